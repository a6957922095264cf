"""Management use cases on a fake store: who may do what, and the webhook remedy."""

from __future__ import annotations

import itertools

import pytest

from domain.errors import Conflict, Forbidden, NotFound
from domain.management import (
    RUN_AS_LOST_PERMISSION,
    Caller,
    ManagementPorts,
    apply_pipeline,
    delete_pipeline,
    describe_pipeline,
    describe_user,
    describe_webhook,
    disable_webhook,
    enable_webhook,
    get_pipeline,
    get_user,
    list_members,
    list_pipeline_summaries,
    list_pipelines,
    put_user,
    remove_member,
    rotate_webhook,
    set_member,
    webhook_state,
)
from domain.models import Role, UserStatus
from domain.ports import ManagementStore
from domain.tokens import hash_token, is_well_formed
from tests.fakes import FakeManagementStore
from tests.support import demo_pipeline

ADMIN = Caller("admin", is_admin=True)
ALICE, BOB, CAROL, OWEN = Caller("alice"), Caller("bob"), Caller("carol"), Caller("owen")


def seeded(store: ManagementStore) -> ManagementPorts:
    """Users owen (owner of demo), alice (runner), bob (viewer), carol (no role) and admin."""
    counter = itertools.count()
    ports = ManagementPorts(
        store=store,
        now=lambda: f"2026-11-27T12:00:{next(counter) % 60:02d}.000Z",
        random_bytes=lambda n: bytes([next(counter) % 256]) * n,
    )
    for user in ("admin", "owen", "alice", "bob", "carol"):
        put_user(ports, ADMIN, user, UserStatus.ACTIVE, None)
    apply_pipeline(ports, OWEN, demo_pipeline())
    set_member(ports, OWEN, "demo", "alice", Role.RUNNER)
    set_member(ports, OWEN, "demo", "bob", Role.VIEWER)
    return ports


@pytest.fixture
def ports() -> ManagementPorts:
    return seeded(FakeManagementStore())


def test_creator_of_a_pipeline_becomes_its_owner(ports: ManagementPorts) -> None:
    assert {(g.user_id, g.role) for g in list_members(ports, OWEN, "demo")} >= {("owen", Role.OWNER)}


def test_owner_may_update_but_runner_may_not(ports: ManagementPorts) -> None:
    _, created = apply_pipeline(ports, OWEN, demo_pipeline(name="Renamed"))
    assert not created and get_pipeline(ports, BOB, "demo").pipeline.name == "Renamed"
    with pytest.raises(Forbidden):
        apply_pipeline(ports, ALICE, demo_pipeline(name="Mine now"))


def test_a_taken_id_is_a_conflict_for_non_members(ports: ManagementPorts) -> None:
    with pytest.raises(Conflict) as caught:
        apply_pipeline(ports, CAROL, demo_pipeline())
    assert caught.value.code == "PIPELINE_EXISTS"


def test_non_members_do_not_see_a_pipeline(ports: ManagementPorts) -> None:
    with pytest.raises(NotFound):
        get_pipeline(ports, CAROL, "demo")
    assert list_pipelines(ports, CAROL) == []
    assert [p.pipeline.id for p in list_pipelines(ports, BOB)] == ["demo"]
    assert [p.pipeline.id for p in list_pipelines(ports, ADMIN)] == ["demo"]


def test_suspended_users_see_nothing(ports: ManagementPorts) -> None:
    put_user(ports, ADMIN, "bob", UserStatus.SUSPENDED, None)
    assert list_pipelines(ports, BOB) == []
    with pytest.raises(NotFound):
        get_pipeline(ports, BOB, "demo")


def test_only_admins_manage_users_and_users_see_themselves(ports: ManagementPorts) -> None:
    with pytest.raises(Forbidden):
        put_user(ports, OWEN, "mallory", UserStatus.ACTIVE, None)
    assert get_user(ports, ALICE, "alice").id == "alice"
    with pytest.raises(Forbidden):
        get_user(ports, ALICE, "bob")
    with pytest.raises(NotFound):
        get_user(ports, ADMIN, "nobody")


def test_a_principal_belongs_to_one_user(ports: ManagementPorts) -> None:
    put_user(ports, ADMIN, "alice", UserStatus.ACTIVE, ("arn:aws:iam::1:user/alice",))
    with pytest.raises(Conflict):
        put_user(ports, ADMIN, "bob", UserStatus.ACTIVE, ("arn:aws:iam::1:user/alice",))


def test_only_owners_manage_members_and_members_must_exist(ports: ManagementPorts) -> None:
    with pytest.raises(Forbidden):
        set_member(ports, ALICE, "demo", "carol", Role.RUNNER)
    with pytest.raises(NotFound) as caught:
        set_member(ports, OWEN, "demo", "nobody", Role.RUNNER)
    assert caught.value.code == "USER_NOT_FOUND"
    with pytest.raises(NotFound) as missing:
        remove_member(ports, OWEN, "demo", "carol")
    assert missing.value.code == "MEMBER_NOT_FOUND"


def test_the_last_owner_cannot_leave_or_be_demoted(ports: ManagementPorts) -> None:
    with pytest.raises(Conflict):
        remove_member(ports, OWEN, "demo", "owen")
    with pytest.raises(Conflict):
        set_member(ports, OWEN, "demo", "owen", Role.VIEWER)
    set_member(ports, OWEN, "demo", "alice", Role.OWNER)
    remove_member(ports, ALICE, "demo", "owen")


def test_first_enable_makes_a_token_shown_once(ports: ManagementPorts) -> None:
    state = enable_webhook(ports, ALICE, "demo")
    assert state.token and is_well_formed(state.token)
    assert (state.enabled, state.run_as, state.token_hint, state.problem) == (True, "alice", state.token[-4:], None)
    assert webhook_state(ports, BOB, "demo").token is None
    assert ports.store.get_trigger(hash_token(state.token)) is not None


def test_viewer_cannot_enable(ports: ManagementPorts) -> None:
    with pytest.raises(Forbidden):
        enable_webhook(ports, BOB, "demo")


def test_re_enable_keeps_the_url_and_makes_the_caller_run_as(ports: ManagementPorts) -> None:
    token = enable_webhook(ports, ALICE, "demo").token
    set_member(ports, OWEN, "demo", "bob", Role.RUNNER)
    disable_webhook(ports, BOB, "demo")
    again = enable_webhook(ports, BOB, "demo")
    assert again.token is None and again.run_as == "bob" and again.enabled
    assert ports.store.get_trigger(hash_token(token or "")) is not None


def test_a_runner_may_take_over_an_enabled_trigger(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    set_member(ports, OWEN, "demo", "bob", Role.RUNNER)
    assert enable_webhook(ports, BOB, "demo").run_as == "bob"


def test_status_flags_a_run_as_user_who_lost_permission(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    remove_member(ports, OWEN, "demo", "alice")
    assert webhook_state(ports, OWEN, "demo").problem == RUN_AS_LOST_PERMISSION


def test_status_flags_a_suspended_run_as_user(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    put_user(ports, ADMIN, "alice", UserStatus.SUSPENDED, None)
    assert webhook_state(ports, OWEN, "demo").problem == RUN_AS_LOST_PERMISSION


def test_rotation_replaces_the_token(ports: ManagementPorts) -> None:
    old = enable_webhook(ports, ALICE, "demo").token or ""
    with pytest.raises(Forbidden):
        rotate_webhook(ports, ALICE, "demo")
    new = rotate_webhook(ports, OWEN, "demo").token or ""
    assert new != old and ports.store.get_trigger(hash_token(old)) is None
    assert ports.store.get_trigger(hash_token(new)) is not None


def test_disable_or_rotate_without_a_trigger_is_not_found(ports: ManagementPorts) -> None:
    for action in (disable_webhook, rotate_webhook):
        with pytest.raises(NotFound):
            action(ports, OWEN, "demo")


def test_deleting_a_pipeline_kills_its_webhook(ports: ManagementPorts) -> None:
    token = enable_webhook(ports, ALICE, "demo").token or ""
    with pytest.raises(Forbidden):
        delete_pipeline(ports, ALICE, "demo")
    delete_pipeline(ports, OWEN, "demo")
    assert ports.store.get_trigger(hash_token(token)) is None
    assert ports.store.list_grants("demo") == []


def test_every_change_leaves_an_audit_entry(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    disable_webhook(ports, ALICE, "demo")
    actions = [(a.actor, a.action) for a in ports.store.list_audit("pipeline/demo")]
    assert actions[:2] == [("alice", "webhook.disable"), ("alice", "webhook.enable")]
    assert ("owen", "pipeline.create") in actions
    assert [a.action for a in ports.store.list_audit("user/alice")] == ["user.create"]


def test_a_new_user_without_a_status_is_active(ports: ManagementPorts) -> None:
    user, created = put_user(ports, ADMIN, "dave", None, None)
    assert created and user.status is UserStatus.ACTIVE


def test_a_change_without_a_status_keeps_the_users_status(ports: ManagementPorts) -> None:
    put_user(ports, ADMIN, "bob", UserStatus.SUSPENDED, None)
    user, created = put_user(ports, ADMIN, "bob", None, ("arn:aws:iam::1:user/bob",))
    assert not created and user.status is UserStatus.SUSPENDED and user.principals == ("arn:aws:iam::1:user/bob",)


def test_suspending_and_reactivating_are_audited_as_such(ports: ManagementPorts) -> None:
    put_user(ports, ADMIN, "bob", UserStatus.SUSPENDED, None)
    put_user(ports, ADMIN, "bob", UserStatus.ACTIVE, None)
    assert [a.action for a in ports.store.list_audit("user/bob")][:2] == ["user.activate", "user.suspend"]


def test_pipeline_summaries_carry_the_webhook_state(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    (summary,) = list_pipeline_summaries(ports, BOB)
    assert (summary.stored.pipeline.id, summary.webhook.enabled, summary.webhook.run_as) == ("demo", True, "alice")


def test_pipeline_description_has_webhook_members_and_audit(ports: ManagementPorts) -> None:
    details = describe_pipeline(ports, BOB, "demo")
    assert details.webhook.enabled is False
    assert [(g.user_id, g.role) for g in details.members] == [
        ("alice", Role.RUNNER),
        ("bob", Role.VIEWER),
        ("owen", Role.OWNER),
    ]
    assert details.audit[0].action == "member.set"


def test_non_members_cannot_describe_a_pipeline(ports: ManagementPorts) -> None:
    with pytest.raises(NotFound):
        describe_pipeline(ports, CAROL, "demo")


def test_user_description_has_the_users_audit(ports: ManagementPorts) -> None:
    details = describe_user(ports, ALICE, "alice")
    assert (details.user.id, [a.action for a in details.audit]) == ("alice", ["user.create"])


def test_webhook_description_has_only_webhook_entries(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    details = describe_webhook(ports, BOB, "demo")
    assert [a.action for a in details.audit] == ["webhook.enable"]
