"""Management use cases on a fake store: who may do what, and the webhook remedy."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from domain.deliveries import Delivery, Outcome
from domain.errors import Conflict, Forbidden, InvalidCursor, InvalidRequest, NotFound
from domain.management import (
    RUN_AS_LOST_PERMISSION,
    ManagementPorts,
    apply_pipeline,
    delete_pipeline,
    describe_pipeline,
    describe_user,
    get_pipeline,
    get_user,
    list_deliveries,
    list_members,
    list_pipeline_summaries,
    list_pipelines,
    put_user,
    remove_member,
    set_member,
)
from domain.models import AuditEntry, Grant, Role, Trigger, UserStatus
from domain.policy import Caller
from domain.ports import DeliveryLog, DeliveryReader, ManagementStore, SigningSecretStore
from domain.tokens import hash_token, is_well_formed
from domain.webhook_trigger import (
    describe_webhook,
    disable_webhook,
    enable_webhook,
    remove_signing_secret,
    rotate_webhook,
    set_signing_secret,
    webhook_state,
)
from tests.fakes import FakeDeliveryLog, FakeManagementStore, FakeSigningSecrets
from tests.support import demo_pipeline

ADMIN = Caller("admin", is_admin=True)
ALICE, BOB, CAROL, OWEN = Caller("alice"), Caller("bob"), Caller("carol"), Caller("owen")


SECRET = "hookrun-example-secret"  # events/source-*.json are signed with it

ReadSecret = Callable[[str], str | None]


def seeded(
    store: ManagementStore,
    signing_secrets: SigningSecretStore | None = None,
    deliveries: DeliveryReader | None = None,
) -> ManagementPorts:
    """Users owen (owner of demo), alice (runner), bob (viewer), carol (no role) and admin.

    Signing secrets and deliveries are kept in memory unless other ports are given.
    """
    counter = itertools.count()
    ports = ManagementPorts(
        store=store,
        signing_secrets=signing_secrets if signing_secrets is not None else FakeSigningSecrets(),
        deliveries=deliveries if deliveries is not None else FakeDeliveryLog(),
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
def signing_secrets() -> SigningSecretStore:
    return FakeSigningSecrets()


@pytest.fixture
def read_secret(signing_secrets: FakeSigningSecrets) -> ReadSecret:
    """How the webhook reads a signing secret by name."""
    return signing_secrets.get_signing_secret


@pytest.fixture
def delivery_log() -> DeliveryLog:
    return FakeDeliveryLog()


@pytest.fixture
def ports(signing_secrets: SigningSecretStore, delivery_log: FakeDeliveryLog) -> ManagementPorts:
    return seeded(FakeManagementStore(), signing_secrets, delivery_log)


def trigger_of(ports: ManagementPorts, pipeline_id: str = "demo") -> Trigger:
    """The pipeline's trigger as the store keeps it."""
    stored = ports.store.get_pipeline(pipeline_id)
    trigger = ports.store.get_trigger(stored.token_hash or "") if stored else None
    assert trigger is not None
    return trigger


def pipeline_audit(ports: ManagementPorts, pipeline_id: str = "demo") -> list[AuditEntry]:
    """The pipeline's audit entries, newest first, as its page shows them (of its current incarnation)."""
    stored = ports.store.get_pipeline(pipeline_id)
    assert stored is not None
    return ports.store.list_audit(f"pipeline/{pipeline_id}", incarnation=stored.incarnation)


def delivery(ports: ManagementPorts, at: str, pipeline_id: str = "demo") -> Delivery:
    """A delivery to the pipeline as it is now (its incarnation)."""
    stored = ports.store.get_pipeline(pipeline_id)
    return Delivery(
        pipeline_id=pipeline_id,
        incarnation=stored.incarnation if stored else "",
        received_at=at,
        source="github",
        event="push",
        outcome=Outcome.RUN_STARTED,
    )


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


def test_suspended_users_are_told_so_for_every_pipeline_and_the_list(ports: ManagementPorts) -> None:
    put_user(ports, ADMIN, "bob", UserStatus.SUSPENDED, None)
    answers = []
    for ask in (lambda: list_pipelines(ports, BOB), lambda: get_pipeline(ports, BOB, "demo")):
        with pytest.raises(Forbidden) as caught:
            ask()
        answers.append(caught.value.message)
    with pytest.raises(Forbidden) as caught:
        get_pipeline(ports, BOB, "nothing")
    assert answers == [caught.value.message] * 2


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
    actions = [(a.actor, a.action) for a in pipeline_audit(ports)]
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


# The signing secret


def test_owner_sets_a_secret_that_the_webhook_reads_by_the_triggers_name(
    ports: ManagementPorts, read_secret: ReadSecret
) -> None:
    enable_webhook(ports, ALICE, "demo")
    state = set_signing_secret(ports, OWEN, "demo", SECRET)
    name = trigger_of(ports).signing_secret
    assert state.signed and name is not None
    assert read_secret(name) == SECRET


def test_admin_sets_a_secret(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    assert set_signing_secret(ports, ADMIN, "demo", SECRET).signed


@pytest.mark.parametrize("caller", [ALICE, BOB], ids=["runner", "viewer"])
def test_runners_and_viewers_may_not_set_a_secret(ports: ManagementPorts, caller: Caller) -> None:
    enable_webhook(ports, ALICE, "demo")
    with pytest.raises(Forbidden):
        set_signing_secret(ports, caller, "demo", SECRET)
    assert trigger_of(ports).signing_secret is None


def test_non_members_do_not_see_the_pipeline_to_set_a_secret(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    with pytest.raises(NotFound) as caught:
        set_signing_secret(ports, CAROL, "demo", SECRET)
    assert caught.value.code == "PIPELINE_NOT_FOUND"


def test_a_secret_before_the_first_enable_is_webhook_not_found(ports: ManagementPorts) -> None:
    with pytest.raises(NotFound) as caught:
        set_signing_secret(ports, OWEN, "demo", SECRET)
    assert caught.value.code == "WEBHOOK_NOT_FOUND"


@pytest.mark.parametrize(
    "secret",
    [
        "x" * 15,
        "x" * 257,
        "sixteen-chars-ok\n",
        "tab\tinside-a-secret",
        "nul\x00inside-a-secret",
        "del\x7finside-secret",
    ],
    ids=["15 characters", "257 characters", "newline", "tab", "NUL", "DEL"],
)
def test_a_short_long_or_control_character_secret_is_an_invalid_request(ports: ManagementPorts, secret: str) -> None:
    enable_webhook(ports, ALICE, "demo")
    with pytest.raises(InvalidRequest) as caught:
        set_signing_secret(ports, OWEN, "demo", secret)
    assert (caught.value.code, [p.name for p in caught.value.problems]) == ("INVALID_REQUEST", ["secret"])
    assert trigger_of(ports).signing_secret is None


def test_a_lone_surrogate_in_a_secret_is_an_invalid_request(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    with pytest.raises(InvalidRequest):
        set_signing_secret(ports, OWEN, "demo", "surrogate-\ud800-inside")


@pytest.mark.parametrize("secret", ["x" * 16, "é" * 256, "with spaces and ünïcode ✓"], ids=["16", "256", "unicode"])
def test_secrets_of_16_to_256_printable_characters_are_taken(ports: ManagementPorts, secret: str) -> None:
    enable_webhook(ports, ALICE, "demo")
    assert set_signing_secret(ports, OWEN, "demo", secret).signed


def test_a_rejected_secret_is_never_in_the_error(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    secret = "too-short-s3cr3t"[:15]
    with pytest.raises(InvalidRequest) as caught:
        set_signing_secret(ports, OWEN, "demo", secret)
    assert secret not in str(caught.value) and all(secret not in p.reason for p in caught.value.problems)


def test_setting_a_secret_again_replaces_its_value(ports: ManagementPorts, read_secret: ReadSecret) -> None:
    enable_webhook(ports, ALICE, "demo")
    set_signing_secret(ports, OWEN, "demo", SECRET)
    set_signing_secret(ports, OWEN, "demo", "another-secret-value")
    assert read_secret(trigger_of(ports).signing_secret or "") == "another-secret-value"


def test_setting_a_secret_is_audited_without_its_value(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    set_signing_secret(ports, OWEN, "demo", SECRET)
    (entry,) = [a for a in pipeline_audit(ports) if a.action == "webhook.secret.set"]
    assert entry.actor == "owen"
    assert SECRET not in entry.model_dump_json()


def test_the_secret_value_is_nowhere_in_the_trigger_or_its_state(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    state = set_signing_secret(ports, OWEN, "demo", SECRET)
    assert SECRET not in trigger_of(ports).model_dump_json()
    assert SECRET not in repr(state) and SECRET not in repr(webhook_state(ports, BOB, "demo"))


def test_rotation_keeps_the_signing_secret(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    set_signing_secret(ports, OWEN, "demo", SECRET)
    name = trigger_of(ports).signing_secret
    rotated = rotate_webhook(ports, OWEN, "demo")
    assert rotated.signed and trigger_of(ports).signing_secret == name


def test_disable_and_re_enable_keep_the_signing_secret(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    set_signing_secret(ports, OWEN, "demo", SECRET)
    disable_webhook(ports, ALICE, "demo")
    assert enable_webhook(ports, ALICE, "demo").signed


def test_a_webhook_without_a_secret_is_not_signed(ports: ManagementPorts) -> None:
    assert not enable_webhook(ports, ALICE, "demo").signed


def test_owner_removes_the_secret_and_it_is_deleted(ports: ManagementPorts, read_secret: ReadSecret) -> None:
    enable_webhook(ports, ALICE, "demo")
    set_signing_secret(ports, OWEN, "demo", SECRET)
    name = trigger_of(ports).signing_secret or ""
    state = remove_signing_secret(ports, OWEN, "demo")
    assert not state.signed and trigger_of(ports).signing_secret is None
    assert read_secret(name) is None


def test_removing_the_secret_is_audited(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    set_signing_secret(ports, OWEN, "demo", SECRET)
    remove_signing_secret(ports, ADMIN, "demo")
    newest = pipeline_audit(ports)[0]
    assert (newest.actor, newest.action) == ("admin", "webhook.secret.remove")


def test_removing_a_secret_the_webhook_does_not_have_changes_nothing(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    before = pipeline_audit(ports)
    assert not remove_signing_secret(ports, OWEN, "demo").signed
    assert pipeline_audit(ports) == before


def test_a_runner_may_not_remove_the_secret(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    set_signing_secret(ports, OWEN, "demo", SECRET)
    with pytest.raises(Forbidden):
        remove_signing_secret(ports, ALICE, "demo")
    assert trigger_of(ports).signing_secret is not None


def test_removing_a_secret_before_the_first_enable_is_webhook_not_found(ports: ManagementPorts) -> None:
    with pytest.raises(NotFound) as caught:
        remove_signing_secret(ports, OWEN, "demo")
    assert caught.value.code == "WEBHOOK_NOT_FOUND"


def test_deleting_a_pipeline_deletes_its_signing_secret(ports: ManagementPorts, read_secret: ReadSecret) -> None:
    enable_webhook(ports, ALICE, "demo")
    set_signing_secret(ports, OWEN, "demo", SECRET)
    name = trigger_of(ports).signing_secret or ""
    delete_pipeline(ports, OWEN, "demo")
    assert read_secret(name) is None


# Deliveries


def test_deliveries_are_listed_newest_first(ports: ManagementPorts, delivery_log: DeliveryLog) -> None:
    for second in ("01", "02", "03"):
        delivery_log.record(delivery(ports, f"2026-11-27T12:00:{second}.000Z"))
    page = list_deliveries(ports, BOB, "demo", 20, None)
    assert [d.received_at[17:19] for d in page.deliveries] == ["03", "02", "01"]
    assert page.next_cursor is None


def test_deliveries_come_a_page_at_a_time(ports: ManagementPorts, delivery_log: DeliveryLog) -> None:
    for second in ("01", "02", "03"):
        delivery_log.record(delivery(ports, f"2026-11-27T12:00:{second}.000Z"))
    first = list_deliveries(ports, BOB, "demo", 2, None)
    rest = list_deliveries(ports, BOB, "demo", 2, first.next_cursor)
    assert [d.received_at[17:19] for d in first.deliveries + rest.deliveries] == ["03", "02", "01"]
    assert first.next_cursor is not None and rest.next_cursor is None


def test_deliveries_of_other_pipelines_are_not_listed(ports: ManagementPorts, delivery_log: DeliveryLog) -> None:
    delivery_log.record(delivery(ports, "2026-11-27T12:00:01.000Z", pipeline_id="other"))
    assert list_deliveries(ports, OWEN, "demo", 20, None).deliveries == []


def test_admins_list_any_pipelines_deliveries(ports: ManagementPorts, delivery_log: DeliveryLog) -> None:
    delivery_log.record(delivery(ports, "2026-11-27T12:00:01.000Z"))
    assert len(list_deliveries(ports, ADMIN, "demo", 20, None).deliveries) == 1


def test_non_members_do_not_see_deliveries(ports: ManagementPorts) -> None:
    with pytest.raises(NotFound) as caught:
        list_deliveries(ports, CAROL, "demo", 20, None)
    assert caught.value.code == "PIPELINE_NOT_FOUND"


def test_suspended_viewers_do_not_see_deliveries(ports: ManagementPorts) -> None:
    put_user(ports, ADMIN, "bob", UserStatus.SUSPENDED, None)
    with pytest.raises(Forbidden):
        list_deliveries(ports, BOB, "demo", 20, None)


def test_a_cursor_of_another_list_is_invalid(ports: ManagementPorts) -> None:
    with pytest.raises(InvalidCursor):
        list_deliveries(ports, BOB, "demo", 20, "bm90LWEtY3Vyc29y")


# Concurrent changes and a pipeline id used again


def _stale_audit() -> AuditEntry:
    return AuditEntry(at="2026-11-27T12:00:00.000Z", actor="owen", action="test", target="pipeline/demo")


def test_a_trigger_change_decided_on_a_stale_read_is_a_conflict_and_changes_nothing(ports: ManagementPorts) -> None:
    enable_webhook(ports, ALICE, "demo")
    stale = ports.store.get_pipeline("demo")
    assert stale is not None
    disable_webhook(ports, ALICE, "demo")
    enabled_again = trigger_of(ports).model_copy(update={"enabled": True})
    with pytest.raises(Conflict) as caught:
        ports.store.update_trigger(stale, enabled_again, _stale_audit())
    assert caught.value.code == "CONFLICT"
    assert trigger_of(ports).enabled is False


def test_a_grant_decided_before_the_pipeline_was_deleted_is_a_conflict(ports: ManagementPorts) -> None:
    stale = ports.store.get_pipeline("demo")
    assert stale is not None
    delete_pipeline(ports, OWEN, "demo")
    with pytest.raises(Conflict):
        ports.store.put_grant(stale, Grant(pipeline_id="demo", user_id="carol", role=Role.OWNER), _stale_audit())
    assert ports.store.list_grants("demo") == []


def test_a_secret_set_that_loses_a_race_leaves_the_winners_secret(
    ports: ManagementPorts, read_secret: ReadSecret
) -> None:
    enable_webhook(ports, ALICE, "demo")
    winner = "the-winning-secret-value"
    racing = ports.signing_secrets.put_signing_secret

    def change_meanwhile(pipeline_id: str, value: str) -> str:
        name = racing(pipeline_id, value)
        if value != winner:
            set_signing_secret(ports, OWEN, "demo", winner)  # lands between the loser's read and its write
        return name

    ports.signing_secrets.put_signing_secret = change_meanwhile  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        set_signing_secret(ports, OWEN, "demo", "the-losing-secret-value")
    assert read_secret(trigger_of(ports).signing_secret or "") == winner


def test_a_pipeline_made_again_with_a_deleted_ones_id_has_none_of_its_audit_or_deliveries(
    ports: ManagementPorts, delivery_log: DeliveryLog
) -> None:
    enable_webhook(ports, ALICE, "demo")
    delivery_log.record(delivery(ports, "2026-11-27T12:00:01.000Z"))
    delete_pipeline(ports, OWEN, "demo")
    apply_pipeline(ports, CAROL, demo_pipeline())
    assert {entry.actor for entry in pipeline_audit(ports)} == {"carol"}
    assert list_deliveries(ports, CAROL, "demo", 20, None).deliveries == []
    assert webhook_state(ports, CAROL, "demo").enabled is False
