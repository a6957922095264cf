"""Fixtures of the unit tests: the demo pipeline in the in-memory store, with alice's webhook enabled, and the
CLI's API faked."""

from __future__ import annotations

import pytest

from domain.models import Role
from hookrun.client import HookrunClient
from hookrun.local_iam import principal_of
from tests.cli_api import FakeApi
from tests.fakes import FakeDeliveryLog, FakeRunStarter, FakeSigningSecrets, FakeStore
from tests.support import DEMO_TOKEN, admins, demo_pipeline


@pytest.fixture
def store() -> FakeStore:
    """Pipeline `demo`; alice is a runner and the webhook runs as her."""
    store = FakeStore()
    store.add_pipeline(demo_pipeline())
    store.add_user("alice", Role.RUNNER)
    store.enable(DEMO_TOKEN, "demo", "alice")
    return store


@pytest.fixture
def runs() -> FakeRunStarter:
    return FakeRunStarter()


@pytest.fixture
def deliveries() -> FakeDeliveryLog:
    return FakeDeliveryLog()


@pytest.fixture
def signing_secrets() -> FakeSigningSecrets:
    return FakeSigningSecrets()


@pytest.fixture
def api_on_local_stack() -> None:
    """The API as the local stack runs it: requests signed by their user's local principal, `admin` an admin."""
    admins(principal_of("admin"))


@pytest.fixture
def on_aws() -> None:
    """The API as deployed with no AdminPrincipals: the tests name the principal that signs."""
    admins()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    """The CLI's API, faked: HookrunClient.send answers from `api.answers`."""
    fake = FakeApi()
    monkeypatch.setattr(
        HookrunClient,
        "send",
        lambda self, method, path, params=None, body=None: fake.send(self, method, path, params, body),
    )
    return fake


@pytest.fixture
def no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No endpoint, user or stack from the environment running the tests, and a wide terminal."""
    for name in ("HOOKRUN_ENDPOINT", "HOOKRUN_USER", "HOOKRUN_STACK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
