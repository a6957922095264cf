"""Against a deployed stack (opt-in: `pytest -m aws`, with HOOKRUN_WEBHOOK_URL set to an enabled webhook's URL).

The webhook needs no AWS credentials (the URL is the secret); following the run signs /api calls with SigV4
through the CLI's client, so AWS credentials of a principal mapped to a hookrun user must be in the environment.
"""

from __future__ import annotations

import os
import time

import pytest
import requests

pytestmark = pytest.mark.aws

WEBHOOK_URL = os.environ.get("HOOKRUN_WEBHOOK_URL", "")


@pytest.fixture
def webhook_url() -> str:
    if not WEBHOOK_URL.startswith("https://"):
        pytest.skip("set HOOKRUN_WEBHOOK_URL to the https URL of an enabled webhook of a deployed stack")
    return WEBHOOK_URL


def test_a_deployed_webhook_starts_a_run_that_succeeds(webhook_url: str) -> None:
    from hookrun.client import HookrunClient

    accepted = requests.post(webhook_url, json={}, timeout=30)
    assert accepted.status_code == 202, accepted.text
    status_url = accepted.json()["statusUrl"]
    api = HookrunClient(status_url.split("/api/", 1)[0], None)
    deadline = time.monotonic() + 300
    run: dict[str, object] = {}
    while time.monotonic() < deadline:
        run = api.get("/api/" + status_url.split("/api/", 1)[1])
        if run["status"] in {"SUCCEEDED", "FAILED", "CANCELLED"}:
            break
        time.sleep(2)
    assert run["status"] == "SUCCEEDED", run


def test_a_deployed_webhook_refuses_an_unknown_token(webhook_url: str) -> None:
    unknown = webhook_url.rsplit("/", 1)[0] + "/hr_" + "x" * 43
    answer = requests.post(unknown, json={}, timeout=30)
    assert (answer.status_code, answer.json()["code"]) == (404, "WEBHOOK_NOT_FOUND")
