"""The FAQ end to end over HTTP on the local stack: a webhook whose run-as user loses permission, and its remedy.

Each test makes its own pipeline and users (ids with a random suffix), so the shared stack's demo stays as it is.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from hookrun.template import ROOT
from tests.e2e.conftest import HOOKRUN, RunningStack, wait_for_run

ADMIN = "admin"


@dataclass(frozen=True)
class Api:
    """The management API of the local stack, as any user."""

    endpoint: str

    def call(self, method: str, path: str, user: str, body: dict[str, Any] | None = None) -> requests.Response:
        return requests.request(
            method, f"{self.endpoint}{path}", json=body, headers={"X-Hookrun-User": user}, timeout=30
        )


@dataclass(frozen=True)
class Faq:
    """A pipeline owned by admin, with `runner` as runner and `viewer` as viewer."""

    api: Api
    pipeline: str
    runner: str
    viewer: str

    def path(self, *rest: str) -> str:
        return "/".join([f"/api/pipelines/{self.pipeline}", *rest])


def trigger(url: str) -> requests.Response:
    return requests.post(url, json={}, timeout=30)


@pytest.fixture
def faq(local_stack: RunningStack) -> Faq:
    api = Api(local_stack.endpoint)
    suffix = uuid.uuid4().hex[:8]
    found = Faq(api, f"faq-{suffix}", f"runner-{suffix}", f"viewer-{suffix}")
    pipeline = {"name": "FAQ", "stages": [{"name": "build", "jobs": [{"name": "say", "script": ["echo hi"]}]}]}
    created = api.call("PUT", found.path(), ADMIN, pipeline)
    assert created.status_code == 201, created.text
    for user, role in [(found.runner, "runner"), (found.viewer, "viewer")]:
        assert api.call("PUT", f"/api/users/{user}", ADMIN, {}).status_code == 201
        assert api.call("PUT", found.path("members", user), ADMIN, {"role": role}).status_code == 200
    return found


def remove_role(faq: Faq) -> requests.Response:
    return faq.api.call("DELETE", faq.path("members", faq.runner), ADMIN)


def suspend(faq: Faq) -> requests.Response:
    return faq.api.call("PUT", f"/api/users/{faq.runner}", ADMIN, {"status": "suspended"})


@pytest.mark.parametrize("lose_permission", [remove_role, suspend], ids=["role removed", "user suspended"])
def test_a_webhook_whose_run_as_user_lost_permission_is_fixed_by_re_enabling(
    faq: Faq, lose_permission: Callable[[Faq], requests.Response], local_stack: RunningStack
) -> None:
    enabled = faq.api.call("POST", faq.path("webhook", "enable"), faq.runner)
    assert enabled.status_code == 201, enabled.text
    url = enabled.json()["url"]
    assert trigger(url).status_code == 202

    assert lose_permission(faq).status_code in {200, 204}
    state = faq.api.call("GET", faq.path("webhook"), ADMIN).json()
    assert (state["runAs"], state["problem"]) == (faq.runner, "RUN_AS_LOST_PERMISSION")
    refused = trigger(url)
    assert (refused.status_code, refused.json()["code"]) == (403, "INSUFFICIENT_PERMISSIONS")
    assert refused.json()["runAs"] == faq.runner and faq.runner in refused.json()["message"]

    viewer_enables = faq.api.call("POST", faq.path("webhook", "enable"), faq.viewer)
    assert (viewer_enables.status_code, viewer_enables.json()["code"]) == (403, "FORBIDDEN")

    promoted = faq.api.call("PUT", faq.path("members", faq.viewer), ADMIN, {"role": "runner"})
    assert promoted.status_code == 200, promoted.text
    disabled = faq.api.call("POST", faq.path("webhook", "disable"), faq.viewer)
    assert (disabled.status_code, disabled.json()["enabled"]) == (200, False)
    re_enabled = faq.api.call("POST", faq.path("webhook", "enable"), faq.viewer)
    assert (re_enabled.status_code, re_enabled.json()["runAs"]) == (200, faq.viewer)
    assert "url" not in re_enabled.json()

    accepted = trigger(url)
    assert accepted.status_code == 202, accepted.text
    run = wait_for_run(local_stack.endpoint, accepted.json()["runId"], user=faq.viewer)
    assert run["trigger"]["runAs"] == faq.viewer


def test_rotation_kills_the_old_url_and_the_new_one_runs(faq: Faq) -> None:
    old = faq.api.call("POST", faq.path("webhook", "enable"), faq.runner).json()["url"]

    rotated = faq.api.call("POST", faq.path("webhook", "rotate"), ADMIN)

    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["url"]
    assert new != old
    gone = trigger(old)
    assert (gone.status_code, gone.json()["code"]) == (404, "WEBHOOK_NOT_FOUND")
    assert trigger(new).status_code == 202


def test_the_cli_shows_the_webhook_state(faq: Faq, local_stack: RunningStack) -> None:
    faq.api.call("POST", faq.path("webhook", "enable"), faq.runner)

    result = subprocess.run(
        [str(HOOKRUN), "webhook", "status", faq.pipeline, "--as", faq.viewer, "--endpoint", local_stack.endpoint],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert f"runs as {faq.runner}" in result.stdout
