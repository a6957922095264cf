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

        try:
            value = self._secrets().get(name, max_age=CACHE_SECONDS)
        except GetParameterError as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, ClientError)
                and cause.response.get("Error", {}).get("Code") == "ResourceNotFoundException"
            ):
                return None
            raise Unavailable() from exc
        return str(value) if value is not None else None
