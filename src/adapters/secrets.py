"""Webhook signing secrets in AWS Secrets Manager, read through Powertools Parameters with a short cache."""

from __future__ import annotations

import uuid
from typing import Any

CACHE_SECONDS = 60


class SecretsManagerSigningSecrets:
    """SigningSecrets: a secret value is cached for a minute, so busy webhooks do not call Secrets Manager each time."""

    def __init__(self, provider: Any = None) -> None:
        self._provider = provider

    def _secrets(self) -> Any:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider  # only sources with a secret pay

            self._provider = SecretsProvider()
        return self._provider

    def get_signing_secret(self, name: str) -> str | None:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
        from botocore.exceptions import ClientError

        from .aws_errors import error_code, unavailable_on_outage

        try:
            with unavailable_on_outage():
                try:
                    value = self._secrets().get(name, max_age=CACHE_SECONDS)
                except GetParameterError as exc:
                    cause = exc.__cause__ or exc.__context__  # Powertools re-raises inside its except block
                    raise cause if isinstance(cause, Exception) else exc from None
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        return str(value) if value is not None else None


class SecretsManagerSigningSecretStore:
    """Writes webhook signing secrets under the stack's prefix: a new secret, named afresh, for every value set."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def put_signing_secret(self, pipeline_id: str, value: str) -> str:
        """Create a secret holding `value`; returns its name (what the trigger keeps).

        Never overwritten: of two values set at once, the one whose trigger change wins keeps its secret, and
        the webhook's cache (keyed by name) sees a new value at once.
        """
        from .aws_errors import unavailable_on_outage

        name = f"{self._prefix}pipelines/{pipeline_id}/webhook-signing-secret-{uuid.uuid4().hex[:12]}"
        with unavailable_on_outage():
            self._client.create_secret(
                Name=name, SecretString=value, Description=f"hookrun: signing secret of pipeline {pipeline_id}"
            )
        return name

    def delete_signing_secret(self, name: str) -> None:
        from .aws_errors import delete_secret

        delete_secret(self._client, name)
