"""HTTP to the hookrun API, in one place: the CLI's commands call `HookrunClient` and handle its errors.

On this machine (the local stack) the acting user is named in the X-Hookrun-User header. Anywhere else the API sits
behind AWS_IAM, so requests are signed with SigV4 and the caller's AWS credentials, and the header is not sent.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

USER_HEADER = "X-Hookrun-User"
DEFAULT_TIMEOUT_SECONDS = 30.0
SIGNED_SERVICE = "execute-api"
Query = Mapping[str, str | int | None]  # a request's query parameters; the None ones are left out
JsonBody = Mapping[str, Any]
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class ApiError(Exception):
    """The API answered with an error: its HTTP status and the `code` and `message` of its body."""

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body if body is not None else {"code": code, "message": message}

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The `errors` the API listed (each field or variable that is wrong), if any."""
        found = self.body.get("errors")
        return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


class ApiUnreachable(Exception):
    """Nothing answered at the endpoint (refused, unresolvable, or silent past the timeout)."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"no hookrun API at {endpoint}: {reason}")
        self.endpoint = endpoint
        self.reason = reason


class CannotSign(Exception):
    """A request to a deployed API must be signed, but there are no AWS credentials or no region to sign with."""


def is_loopback(endpoint: str) -> bool:
    """True for an endpoint on this machine (localhost, 127.0.0.0/8, ::1): the local stack, which reads no IAM."""
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def signing_region(endpoint: str) -> str:
    """The region in an execute-api host name; for other hosts (custom domains), AWS_REGION or the AWS config's."""
    found = _REGION_IN_HOST.search(urlsplit(endpoint).hostname or "")
    if found:
        return found.group(1)
    from botocore.session import get_session

    region = os.environ.get("AWS_REGION") or get_session().get_config_variable("region")
    if not region:
        raise CannotSign(f"no AWS region to sign requests to {endpoint} with: set AWS_REGION.")
    return str(region)


class HookrunClient:
    """Calls the hookrun API at `endpoint` as `user`: by header on this machine, by SigV4 signature elsewhere."""

    def __init__(self, endpoint: str, user: str | None = None, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.user = user
        self.timeout = timeout
        self.signed = not is_loopback(self.endpoint)
        self._session = requests.Session()

    def get(self, path: str, params: Query | None = None) -> dict[str, Any]:
        """GET `path` (already URL-quoted) with the non-None `params`; the JSON object the API answered."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: JsonBody | None = None) -> dict[str, Any]:
        """POST `body` (none if None) as JSON to `path`; the JSON object the API answered."""
        return self.request("POST", path, body=body)

    def put(self, path: str, body: JsonBody) -> dict[str, Any]:
        """PUT `body` as JSON to `path`; the JSON object the API answered."""
        return self.request("PUT", path, body=body)

    def delete(self, path: str) -> dict[str, Any]:
        """DELETE `path`; `{}` for the API's 204."""
        return self.request("DELETE", path)

    def request(
        self, method: str, path: str, params: Query | None = None, body: JsonBody | None = None
    ) -> dict[str, Any]:
        """Send one request; the JSON object the API answered."""
        return self.send(method, path, params, body)[1]

    def send(
        self, method: str, path: str, params: Query | None = None, body: JsonBody | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Send one request, signed when the endpoint is not on this machine; the status and JSON object answered."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.user and not self.signed:
            headers[USER_HEADER] = self.user
        query = {name: str(value) for name, value in (params or {}).items() if value is not None}
        prepared = self._session.prepare_request(
            requests.Request(method, self.endpoint + path, params=query, data=data, headers=headers)
        )
        if self.signed:
            sign_request(prepared, headers, self.endpoint)
        try:
            response = self._session.send(prepared, timeout=self.timeout)
        except requests.ConnectionError as exc:
            raise ApiUnreachable(self.endpoint, "the connection failed") from exc
        except requests.Timeout as exc:
            raise ApiUnreachable(self.endpoint, f"no answer within {self.timeout:g} s") from exc
        return response.status_code, answer_body(response)


def sign_request(prepared: requests.PreparedRequest, headers: Mapping[str, str], endpoint: str) -> None:
    """Add the SigV4 headers; only `headers` and the host are signed, not what proxies may rewrite."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.session import get_session

    credentials = get_session().get_credentials()
    if credentials is None:
        raise CannotSign(
            f"no AWS credentials to sign requests to {endpoint} with. "
            "Configure them (aws configure, AWS_PROFILE, or environment variables)."
        )
    signed = AWSRequest(method=prepared.method, url=prepared.url, data=prepared.body, headers=dict(headers))
    SigV4Auth(credentials.get_frozen_credentials(), SIGNED_SERVICE, signing_region(endpoint)).add_auth(signed)
    prepared.headers.update(dict(signed.headers.items()))


def answer_body(response: requests.Response) -> dict[str, Any]:
    """The JSON object of a successful answer ({} for 204); raises ApiError for an error or a body that is not one."""
    if response.status_code == 204:
        return {}
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
            found or None,
        )
    if not isinstance(body, dict):
        raise ApiError(response.status_code, "INVALID_RESPONSE", "The API answered with something other than JSON.")
    return body
