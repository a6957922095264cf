"""Fixtures of the unit tests: the demo pipeline in the in-memory store, with alice's webhook enabled."""

from __future__ import annotations

import pytest

from domain.models import Role
from hookrun.local_iam import principal_of
from tests.fakes import FakeRunStarter, FakeStore
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
def api_on_local_stack() -> None:
    """The API as the local stack runs it: requests signed by their user's local principal, `admin` an admin."""
    admins(principal_of("admin"))


@pytest.fixture
def on_aws() -> None:
    """The API as deployed with no AdminPrincipals: the tests name the principal that signs."""
    admins()
