"""Webhook signing secrets in AWS Secrets Manager, read through Powertools Parameters with a short cache."""

from __future__ import annotations

from typing import Any

from domain.errors import Unavailable

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
    """Writes webhook signing secrets: one secret per pipeline, named under the stack's prefix."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def put_signing_secret(self, pipeline_id: str, value: str) -> str:
        """Create or replace the pipeline's signing secret; returns its name (what the trigger keeps)."""
        from botocore.exceptions import ClientError

        from .aws_errors import error_code, unavailable_on_outage

        name = f"{self._prefix}pipelines/{pipeline_id}/webhook-signing-secret"
        with unavailable_on_outage():
            try:
                self._client.put_secret_value(SecretId=name, SecretString=value)
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
                try:
                    self._client.create_secret(
                        Name=name, SecretString=value, Description=f"hookrun: signing secret of pipeline {pipeline_id}"
                    )
                except ClientError as create_error:
                    # a secret deleted moments ago is still being deleted: the name is free again shortly
                    if error_code(create_error) == "InvalidRequestException":
                        raise Unavailable(retry_after_seconds=30) from create_error
                    raise
        return name

    def delete_signing_secret(self, name: str) -> None:
        from botocore.exceptions import ClientError

        from .aws_errors import error_code, unavailable_on_outage

        with unavailable_on_outage():
            try:
                self._client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
