"""HTTP to the hookrun API, in one place: the CLI's commands call `HookrunClient` and handle its two errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

USER_HEADER = "X-Hookrun-User"
DEFAULT_TIMEOUT_SECONDS = 30.0


class ApiError(Exception):
    """The API answered with an error: its HTTP status and the `code` and `message` of its body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ApiUnreachable(Exception):
    """Nothing answered at the endpoint (refused, unresolvable, or silent past the timeout)."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"no hookrun API at {endpoint}: {reason}")
        self.endpoint = endpoint
        self.reason = reason


class HookrunClient:
    """Calls the hookrun API at `endpoint` as `user` (sent as X-Hookrun-User, which only the local stack reads)."""

    def __init__(self, endpoint: str, user: str | None = None, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.user = user
        self.timeout = timeout
        self._session = requests.Session()

    def get(self, path: str, params: Mapping[str, str | int | None] | None = None) -> dict[str, Any]:
        """GET `path` (already URL-quoted) with the non-None `params`; the JSON object the API answered."""
        headers = {"Accept": "application/json"}
        if self.user:
            headers[USER_HEADER] = self.user
        query = {name: str(value) for name, value in (params or {}).items() if value is not None}
        try:
            response = self._session.get(self.endpoint + path, params=query, headers=headers, timeout=self.timeout)
        except requests.ConnectionError as exc:
            raise ApiUnreachable(self.endpoint, "the connection failed") from exc
        except requests.Timeout as exc:
            raise ApiUnreachable(self.endpoint, f"no answer within {self.timeout:g} s") from exc
        return answer_body(response)


def answer_body(response: requests.Response) -> dict[str, Any]:
    """The JSON object of a successful answer; raises ApiError for an error status or a body that is not one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        found = body if isinstance(body, dict) else {}
        raise ApiError(
            response.status_code,
            str(found.get("code") or f"HTTP_{response.status_code}"),
            str(found.get("message") or response.reason or "The API answered with an error."),
        )
    if not isinstance(body, dict):
        raise ApiError(response.status_code, "INVALID_RESPONSE", "The API answered with something other than JSON.")
    return body
