"""The trigger_pipeline use case, on fakes."""

import json

import pytest

from domain.errors import InsufficientPermissions, InvalidVariables, WebhookDisabled, WebhookNotFound
from domain.models import AcceptedRun, Role, User, UserStatus
from domain.trigger_pipeline import TriggerPorts, WebhookRequest, receive_webhook
from tests.fakes import FakeRunStarter, FakeStore, fake_ports
from tests.support import DEMO_TOKEN


def trigger_pipeline(ports: TriggerPorts, token: str, overrides: dict[str, object]) -> AcceptedRun:
    """A variable webhook: the body is the overrides as JSON."""
    body = json.dumps(overrides).encode()
    result = receive_webhook(ports, WebhookRequest(token, {"Content-Type": "application/json"}, body))
    assert isinstance(result, AcceptedRun)
    return result


def test_empty_body_starts_a_run_with_defaults(store: FakeStore, runs: FakeRunStarter) -> None:
    accepted = trigger_pipeline(fake_ports(store, runs), DEMO_TOKEN, {})
    assert accepted.status == "QUEUED"
    assert runs.started[0].variables["abc"] == "123"
    assert runs.started[0].run_as == "alice"
    assert runs.started[0].run_id == accepted.run_id


def test_override_reaches_the_run(store: FakeStore, runs: FakeRunStarter) -> None:
    trigger_pipeline(fake_ports(store, runs), DEMO_TOKEN, {"abc": "456"})
    assert runs.started[0].variables["abc"] == "456"


def test_malformed_token_is_not_found_without_a_read(store: FakeStore, runs: FakeRunStarter) -> None:
    with pytest.raises(WebhookNotFound):
        trigger_pipeline(fake_ports(store, runs), "not-a-token", {})
    assert store.reads == 0


def test_unknown_token_is_not_found(store: FakeStore, runs: FakeRunStarter) -> None:
    with pytest.raises(WebhookNotFound):
        trigger_pipeline(fake_ports(store, runs), "hr_" + "z" * 43, {})


def test_disabled_trigger_is_refused(store: FakeStore, runs: FakeRunStarter) -> None:
    store.enable(DEMO_TOKEN, "demo", "alice", enabled=False)
    with pytest.raises(WebhookDisabled):
        trigger_pipeline(fake_ports(store, runs), DEMO_TOKEN, {})
    assert runs.started == []


def test_run_as_user_whose_grant_was_removed_gets_insufficient_permissions(
    store: FakeStore, runs: FakeRunStarter
) -> None:
    del store.grants[("demo", "alice")]
    with pytest.raises(InsufficientPermissions) as caught:
        trigger_pipeline(fake_ports(store, runs), DEMO_TOKEN, {})
    assert caught.value.run_as == "alice"
    assert "disable" in caught.value.message.lower() and "enable it again" in caught.value.message
    assert runs.started == []


def test_suspended_run_as_user_gets_insufficient_permissions(store: FakeStore, runs: FakeRunStarter) -> None:
    store.users["alice"] = User(id="alice", status=UserStatus.SUSPENDED)
    with pytest.raises(InsufficientPermissions):
        trigger_pipeline(fake_ports(store, runs), DEMO_TOKEN, {})


def test_deleted_run_as_user_gets_insufficient_permissions(store: FakeStore, runs: FakeRunStarter) -> None:
    del store.users["alice"]
    with pytest.raises(InsufficientPermissions):
        trigger_pipeline(fake_ports(store, runs), DEMO_TOKEN, {})


def test_permissions_are_checked_before_variables(store: FakeStore, runs: FakeRunStarter) -> None:
    store.grants[("demo", "alice")] = store.grants[("demo", "alice")].model_copy(update={"role": Role.VIEWER})
    with pytest.raises(InsufficientPermissions):
        trigger_pipeline(fake_ports(store, runs), DEMO_TOKEN, {"nope": 1})


def test_invalid_variables_start_nothing(store: FakeStore, runs: FakeRunStarter) -> None:
    with pytest.raises(InvalidVariables):
        trigger_pipeline(fake_ports(store, runs), DEMO_TOKEN, {"nope": 1})
    assert runs.started == []


def test_secret_values_go_to_run_secrets_never_to_the_run_request(store: FakeStore, runs: FakeRunStarter) -> None:
    accepted = trigger_pipeline(fake_ports(store, runs), DEMO_TOKEN, {"API_KEY": "s3cr3t"})
    assert store.run_secrets[accepted.run_id] == {"API_KEY": "s3cr3t"}
    assert "s3cr3t" not in runs.started[0].model_dump_json()
    assert runs.started[0].secret_names == ("API_KEY",)
    assert accepted.variables["API_KEY"] == "***"


def test_no_secret_values_means_no_secret_write(store: FakeStore, runs: FakeRunStarter) -> None:
    trigger_pipeline(fake_ports(store, runs), DEMO_TOKEN, {})
    assert store.run_secrets == {}
