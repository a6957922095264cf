"""The one Logger and Metrics of hookrun; everything imports them from here."""

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="hookrun")
metrics = Metrics(namespace="Hookrun", service="hookrun")
