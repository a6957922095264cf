"""The management API on a fake store: each route's permission rules, its answers, and its bad inputs."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from domain.deliveries import Delivery, Outcome
from domain.errors import Unavailable
from domain.management import ManagementPorts, put_user
from domain.models import AuditEntry, UserStatus
from domain.tokens import hash_token
from domain.webhook_trigger import enable_webhook, set_signing_secret
from handlers import api, composition
from handlers.composition import Container, Settings
from handlers.observability import logger
from tests.fakes import NOW, FakeDeliveryLog, FakeManagementStore, FakeSigningSecrets
from tests.support import FakeLambdaContext, admins, api_event, api_request, demo_pipeline
from tests.unit.test_management import ADMIN, ALICE, OWEN, SECRET, seeded

ALICE_ARN = "arn:aws:iam::123456789012:user/alice"
pytestmark = pytest.mark.usefixtures("api_on_local_stack")
ADMIN_ARN = "arn:aws:iam::123456789012:role/hookrun-admin"
PIPELINE = "/api/pipelines/{pipelineId}"
USER = "/api/users/{userId}"
MEMBERS = "/api/pipelines/{pipelineId}/members"
MEMBER = "/api/pipelines/{pipelineId}/members/{userId}"
WEBHOOK = "/api/pipelines/{pipelineId}/webhook"
WEBHOOK_SECRET = "/api/pipelines/{pipelineId}/webhook/secret"
DELIVERIES = "/api/pipelines/{pipelineId}/deliveries"
BASE_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"


class FakeContainer(Container):
    def __init__(self, ports: ManagementPorts) -> None:
        super().__init__(Settings(table_name="unused", state_machine_arn="unused"))
        self.__dict__.update(management=ports.store, management_ports=ports)


@pytest.fixture
def store() -> FakeManagementStore:
    return FakeManagementStore()


@pytest.fixture
def ports(
    store: FakeManagementStore, signing_secrets: FakeSigningSecrets, deliveries: FakeDeliveryLog
) -> ManagementPorts:
    """Users owen (owner of demo), alice (runner), bob (viewer), carol (no role) and admin."""
    return seeded(store, signing_secrets, deliveries)


@pytest.fixture(autouse=True)
def wiring(ports: ManagementPorts) -> Iterator[None]:
    composition.use_container(FakeContainer(ports))
    yield
    composition.use_container(None)


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = api.handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    return response["statusCode"], json.loads(response["body"]) if response["body"] else {}


def request(
    method: str, resource: str, body: Any = None, as_user: str | None = "alice", **parameters: str
) -> tuple[int, dict[str, Any]]:
    """Call `method resource` as `as_user` on the local stack; a body that is not a str is sent as JSON."""
    text = body if body is None or isinstance(body, str) else json.dumps(body)
    return call(api_request(method, resource, parameters, text, user=as_user))


def pipeline_file(**changes: Any) -> dict[str, Any]:
    return demo_pipeline(**changes).model_dump(by_alias=True, mode="json")


def enabled(ports: ManagementPorts) -> str:
    """Enable demo's webhook as alice; its token."""
    return enable_webhook(ports, ALICE, "demo").token or ""


# PUT /api/pipelines/{pipelineId}


def test_creating_a_pipeline_answers_201_with_it(store: FakeManagementStore) -> None:
    status, body = request("PUT", PIPELINE, pipeline_file(id="new"), pipelineId="new")
    assert status == 201
    assert body["pipeline"]["id"] == "new" and body["pipeline"]["stages"][0]["jobs"][0]["timeoutSeconds"] == 300
    assert body["createdAt"] == body["updatedAt"]


def test_the_creator_of_a_pipeline_owns_it(store: FakeManagementStore) -> None:
    request("PUT", PIPELINE, pipeline_file(id="new"), pipelineId="new")
    assert store.grants[("new", "alice")].role == "owner"


def test_the_put_pipeline_event_applies_the_pipeline_file_without_an_id() -> None:
    status, body = call(api_event("api-put-pipeline.json", {"pipelineId": "other"}, user="owen"))
    assert (status, body["pipeline"]["id"], body["pipeline"]["name"]) == (201, "other", "Demo pipeline")


def test_owner_updates_a_pipeline_with_200() -> None:
    status, body = request("PUT", PIPELINE, pipeline_file(name="Renamed"), as_user="owen", pipelineId="demo")
    assert (status, body["pipeline"]["name"]) == (200, "Renamed")


def test_admin_updates_any_pipeline() -> None:
    status, _ = request("PUT", PIPELINE, pipeline_file(name="Renamed"), as_user="admin", pipelineId="demo")
    assert status == 200


def test_runner_may_not_update_a_pipeline() -> None:
    status, body = request("PUT", PIPELINE, pipeline_file(name="Mine"), pipelineId="demo")
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_non_member_applying_a_taken_id_gets_409() -> None:
    status, body = request("PUT", PIPELINE, pipeline_file(), as_user="carol", pipelineId="demo")
    assert (status, body["code"]) == (409, "PIPELINE_EXISTS")


def test_suspended_user_may_not_create_a_pipeline(ports: ManagementPorts) -> None:
    put_user(ports, ADMIN, "carol", UserStatus.SUSPENDED, None)
    status, body = request("PUT", PIPELINE, pipeline_file(id="new"), as_user="carol", pipelineId="new")
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_body_id_other_than_the_path_is_422_naming_the_id() -> None:
    status, body = request("PUT", PIPELINE, pipeline_file(id="other"), pipelineId="new")
    assert (status, body["code"], [e["name"] for e in body["errors"]]) == (422, "INVALID_PIPELINE", ["id"])


def test_invalid_pipeline_is_422_naming_every_field() -> None:
    broken = pipeline_file(id="new")
    broken["stages"][0]["jobs"][0]["timeoutSeconds"] = 5000
    del broken["name"]
    status, body = request("PUT", PIPELINE, broken, pipelineId="new")
    assert (status, body["code"]) == (422, "INVALID_PIPELINE")
    assert {e["name"] for e in body["errors"]} >= {"name", "stages.0.jobs.0.timeoutSeconds"}


def test_a_script_with_a_nul_byte_is_refused_at_apply() -> None:
    broken = pipeline_file(id="new")
    broken["stages"][0]["jobs"][0]["script"] = ["echo one\u0000two"]
    status, body = request("PUT", PIPELINE, broken, pipelineId="new")
    assert (status, body["code"]) == (422, "INVALID_PIPELINE")
    assert "stages.0.jobs.0.script" in [e["name"] for e in body["errors"]]


def test_invalid_pipeline_answer_does_not_echo_the_input() -> None:
    broken = pipeline_file(id="new")
    broken["variables"]["RETRIES"]["default"] = "s3cr3t-not-a-number"
    status, body = request("PUT", PIPELINE, broken, pipelineId="new")
    assert status == 422
    assert "s3cr3t" not in json.dumps(body)


def test_malformed_pipeline_id_in_the_path_is_422_naming_the_id() -> None:
    without_id = {k: v for k, v in pipeline_file().items() if k != "id"}
    status, body = request("PUT", PIPELINE, without_id, pipelineId="Bad_Id")
    assert (status, [e["name"] for e in body["errors"]]) == (422, ["id"])


def test_body_over_256_kib_is_413() -> None:
    status, body = request("PUT", PIPELINE, json.dumps({"name": "x" * 300_000}), pipelineId="new")
    assert (status, body["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_body_that_is_not_json_is_400() -> None:
    status, body = request("PUT", PIPELINE, "{not json", pipelineId="new")
    assert (status, body["code"]) == (400, "INVALID_JSON")


def test_body_that_is_a_json_array_is_400() -> None:
    status, body = request("PUT", PIPELINE, "[]", pipelineId="new")
    assert (status, body["code"]) == (400, "INVALID_JSON")


def test_body_sent_as_text_is_415() -> None:
    event = api_request("PUT", PIPELINE, {"pipelineId": "new"}, json.dumps(pipeline_file()), content_type="text/plain")
    status, body = call(event)
    assert (status, body["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_secret_defaults_are_masked_in_the_answer() -> None:
    with_secret = pipeline_file(id="new")
    with_secret["variables"]["API_KEY"]["default"] = "s3cr3t-value"
    status, body = request("PUT", PIPELINE, with_secret, pipelineId="new")
    assert (status, body["pipeline"]["variables"]["API_KEY"]["default"]) == (201, "***")


def test_a_secret_choice_variables_choices_are_masked_when_read() -> None:
    with_choice = pipeline_file(id="new")
    with_choice["variables"]["REGION_KEY"] = {"type": "choice", "choices": ["k-alpha", "k-beta"], "secret": True}
    request("PUT", PIPELINE, with_choice, pipelineId="new")
    status, body = request("GET", PIPELINE, as_user="alice", pipelineId="new")
    assert (status, body["pipeline"]["variables"]["REGION_KEY"]["choices"]) == (200, ["***"])
    assert "k-alpha" not in json.dumps(body)


# GET /api/pipelines, GET and DELETE /api/pipelines/{pipelineId}


def test_member_lists_their_pipelines_with_the_webhook_state(ports: ManagementPorts) -> None:
    enabled(ports)
    status, body = request("GET", "/api/pipelines", as_user="bob")
    assert status == 200
    assert body == {
        "pipelines": [
            {"id": "demo", "name": "Demo pipeline", "webhook": {"enabled": True, "runAs": "alice", "problem": None}}
        ]
    }


def test_user_without_roles_lists_no_pipelines() -> None:
    assert request("GET", "/api/pipelines", as_user="carol") == (200, {"pipelines": []})


def test_admin_lists_every_pipeline() -> None:
    request("PUT", PIPELINE, pipeline_file(id="new"), as_user="carol", pipelineId="new")
    _, body = request("GET", "/api/pipelines", as_user="admin")
    assert [p["id"] for p in body["pipelines"]] == ["demo", "new"]


def test_viewer_sees_a_pipeline_with_webhook_members_and_audit() -> None:
    status, body = request("GET", PIPELINE, as_user="bob", pipelineId="demo")
    assert status == 200
    assert body["pipeline"]["id"] == "demo"
    assert body["webhook"] == {
        "enabled": False,
        "runAs": None,
        "enabledAt": None,
        "tokenHint": None,
        "problem": None,
        "signed": False,
    }
    assert {m["userId"]: m["role"] for m in body["members"]} == {"alice": "runner", "bob": "viewer", "owen": "owner"}
    assert body["audit"][0] == {
        "at": body["audit"][0]["at"],
        "actor": "owen",
        "action": "member.set",
        "target": "pipeline/demo",
        "details": {"user": "bob", "role": "viewer"},
    }


def test_audit_shows_the_newest_50_entries(store: FakeManagementStore) -> None:
    entry = AuditEntry(at=NOW, actor="owen", action="pipeline.update", target="pipeline/demo")
    for _ in range(60):
        store.add_audit(entry, store.pipelines["demo"].incarnation)
    _, body = request("GET", PIPELINE, as_user="owen", pipelineId="demo")
    assert len(body["audit"]) == 50


@pytest.mark.parametrize(
    ("user", "pipeline_id"), [("carol", "demo"), ("admin", "nope")], ids=["non-member", "unknown pipeline"]
)
def test_a_pipeline_the_caller_cannot_see_is_404(user: str, pipeline_id: str) -> None:
    status, body = request("GET", PIPELINE, as_user=user, pipelineId=pipeline_id)
    assert (status, body["code"]) == (404, "PIPELINE_NOT_FOUND")


def test_malformed_pipeline_id_is_404_without_repeating_it() -> None:
    status, body = request("GET", PIPELINE, as_user="admin", pipelineId="Bad_Id")
    assert (status, body["code"]) == (404, "PIPELINE_NOT_FOUND")
    assert "Bad_Id" not in body["message"]


def test_owner_deletes_a_pipeline_with_204() -> None:
    status, _ = request("DELETE", PIPELINE, as_user="owen", pipelineId="demo")
    assert status == 204
    assert request("GET", PIPELINE, as_user="admin", pipelineId="demo")[0] == 404


def test_deleting_a_pipeline_kills_its_webhook_url(ports: ManagementPorts, store: FakeManagementStore) -> None:
    token = enabled(ports)
    request("DELETE", PIPELINE, as_user="admin", pipelineId="demo")
    assert store.get_trigger(hash_token(token)) is None


def test_runner_may_not_delete_a_pipeline() -> None:
    status, body = request("DELETE", PIPELINE, pipelineId="demo")
    assert (status, body["code"]) == (403, "FORBIDDEN")


# PUT and GET /api/users/{userId}


def test_admin_adds_an_active_user_with_201() -> None:
    status, body = request("PUT", USER, {"principals": [ALICE_ARN]}, as_user="admin", userId="dave")
    assert (status, body) == (201, {"id": "dave", "status": "active", "principals": [ALICE_ARN]})


def test_admin_suspends_a_user_with_200_keeping_their_principals(ports: ManagementPorts) -> None:
    put_user(ports, ADMIN, "bob", UserStatus.ACTIVE, (ALICE_ARN,))
    status, body = request("PUT", USER, {"status": "suspended"}, as_user="admin", userId="bob")
    assert (status, body) == (200, {"id": "bob", "status": "suspended", "principals": [ALICE_ARN]})


def test_empty_body_adds_an_active_user() -> None:
    status, body = request("PUT", USER, as_user="admin", userId="dave")
    assert (status, body["status"]) == (201, "active")


def test_non_admin_may_not_add_users() -> None:
    status, body = request("PUT", USER, {}, as_user="owen", userId="dave")
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_a_principal_of_another_user_is_409(ports: ManagementPorts) -> None:
    put_user(ports, ADMIN, "alice", UserStatus.ACTIVE, (ALICE_ARN,))
    status, body = request("PUT", USER, {"principals": [ALICE_ARN]}, as_user="admin", userId="bob")
    assert (status, body["code"]) == (409, "PRINCIPAL_TAKEN")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "deleted"}, "status"),
        ({"principals": ["alice"]}, "principals.0"),
        ({"principals": "arn:aws:iam::123456789012:user/alice"}, "principals"),
        ({"role": "owner"}, "role"),
        ({"principals": ["arn:aws:iam::123456789012:user/alice"] * 2}, "principals"),
    ],
)
def test_bad_user_change_is_422_naming_the_field(change: dict[str, Any], field: str) -> None:
    status, body = request("PUT", USER, change, as_user="admin", userId="dave")
    assert (status, body["code"], [e["name"] for e in body["errors"]]) == (422, "INVALID_REQUEST", [field])


def test_malformed_user_id_is_422() -> None:
    status, body = request("PUT", USER, {}, as_user="admin", userId="no spaces")
    assert (status, body["code"], body["errors"][0]["name"]) == (422, "INVALID_REQUEST", "userId")


def test_user_sees_themself_with_their_audit() -> None:
    status, body = request("GET", USER, userId="alice")
    assert (status, body["id"], body["status"], body["principals"]) == (200, "alice", "active", [])
    assert [a["action"] for a in body["audit"]] == ["user.create"]


def test_user_may_not_see_another_user() -> None:
    status, body = request("GET", USER, userId="bob")
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_admin_sees_any_user() -> None:
    assert request("GET", USER, as_user="admin", userId="bob")[0] == 200


def test_unknown_user_is_404() -> None:
    status, body = request("GET", USER, as_user="admin", userId="nobody")
    assert (status, body["code"]) == (404, "USER_NOT_FOUND")


# Members


def test_owner_gives_a_user_a_role() -> None:
    status, body = request("PUT", MEMBER, {"role": "runner"}, as_user="owen", pipelineId="demo", userId="carol")
    assert (status, body) == (200, {"pipelineId": "demo", "userId": "carol", "role": "runner"})


def test_runner_may_not_give_roles() -> None:
    status, body = request("PUT", MEMBER, {"role": "runner"}, pipelineId="demo", userId="carol")
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_role_for_an_unknown_user_is_404() -> None:
    status, body = request("PUT", MEMBER, {"role": "runner"}, as_user="owen", pipelineId="demo", userId="nobody")
    assert (status, body["code"]) == (404, "USER_NOT_FOUND")


def test_unknown_role_is_422() -> None:
    status, body = request("PUT", MEMBER, {"role": "god"}, as_user="owen", pipelineId="demo", userId="carol")
    assert (status, body["code"], body["errors"][0]["name"]) == (422, "INVALID_REQUEST", "role")


def test_demoting_the_last_owner_is_409() -> None:
    status, body = request("PUT", MEMBER, {"role": "viewer"}, as_user="owen", pipelineId="demo", userId="owen")
    assert (status, body["code"]) == (409, "LAST_OWNER")


def test_owner_removes_a_member_with_204(store: FakeManagementStore) -> None:
    status, _ = request("DELETE", MEMBER, as_user="owen", pipelineId="demo", userId="bob")
    assert status == 204 and ("demo", "bob") not in store.grants


def test_removing_the_last_owner_is_409() -> None:
    status, body = request("DELETE", MEMBER, as_user="admin", pipelineId="demo", userId="owen")
    assert (status, body["code"]) == (409, "LAST_OWNER")


def test_removing_a_non_member_is_404() -> None:
    status, body = request("DELETE", MEMBER, as_user="owen", pipelineId="demo", userId="carol")
    assert (status, body["code"]) == (404, "MEMBER_NOT_FOUND")


def test_viewer_may_not_remove_members() -> None:
    status, body = request("DELETE", MEMBER, as_user="bob", pipelineId="demo", userId="alice")
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_viewer_lists_the_members() -> None:
    status, body = request("GET", MEMBERS, as_user="bob", pipelineId="demo")
    assert (status, body["members"][0]) == (200, {"userId": "alice", "role": "runner"})


def test_non_member_may_not_list_members() -> None:
    status, body = request("GET", MEMBERS, as_user="carol", pipelineId="demo")
    assert (status, body["code"]) == (404, "PIPELINE_NOT_FOUND")


# The webhook


def test_first_enable_answers_201_with_the_url_shown_once(store: FakeManagementStore) -> None:
    status, body = call(api_event("api-enable-webhook.json", user="alice"))
    assert status == 201
    assert body["url"].startswith(f"{BASE_URL}/pipeline/webhook/hr_")
    token = body["url"].rsplit("/", 1)[1]
    assert store.get_trigger(hash_token(token)) is not None
    assert (body["enabled"], body["runAs"], body["tokenHint"], body["problem"]) == (True, "alice", token[-4:], None)


def test_a_later_enable_answers_200_without_the_url(ports: ManagementPorts) -> None:
    enabled(ports)
    status, body = request("POST", f"{WEBHOOK}/enable", as_user="owen", pipelineId="demo")
    assert (status, body["runAs"]) == (200, "owen")
    assert "url" not in body


def test_viewer_may_not_enable() -> None:
    status, body = request("POST", f"{WEBHOOK}/enable", as_user="bob", pipelineId="demo")
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_admin_without_a_role_may_not_enable() -> None:
    status, body = request("POST", f"{WEBHOOK}/enable", as_user="admin", pipelineId="demo")
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_runner_disables_and_keeps_the_url(ports: ManagementPorts, store: FakeManagementStore) -> None:
    token = enabled(ports)
    status, body = request("POST", f"{WEBHOOK}/disable", pipelineId="demo")
    assert (status, body["enabled"], "url" in body) == (200, False, False)
    assert store.get_trigger(hash_token(token)) is not None


def test_viewer_may_not_disable(ports: ManagementPorts) -> None:
    enabled(ports)
    status, body = request("POST", f"{WEBHOOK}/disable", as_user="bob", pipelineId="demo")
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_disabling_a_webhook_never_enabled_is_404() -> None:
    status, body = request("POST", f"{WEBHOOK}/disable", pipelineId="demo")
    assert (status, body["code"]) == (404, "WEBHOOK_NOT_FOUND")


def test_owner_rotates_to_a_new_url_and_the_old_one_dies(ports: ManagementPorts, store: FakeManagementStore) -> None:
    old = enabled(ports)
    status, body = request("POST", f"{WEBHOOK}/rotate", as_user="owen", pipelineId="demo")
    new = body["url"].rsplit("/", 1)[1]
    assert status == 200 and new != old
    assert store.get_trigger(hash_token(old)) is None and store.get_trigger(hash_token(new)) is not None


def test_runner_may_not_rotate(ports: ManagementPorts) -> None:
    enabled(ports)
    status, body = request("POST", f"{WEBHOOK}/rotate", pipelineId="demo")
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_status_flags_a_run_as_user_who_lost_the_role(ports: ManagementPorts) -> None:
    enabled(ports)
    request("DELETE", MEMBER, as_user="owen", pipelineId="demo", userId="alice")
    status, body = request("GET", WEBHOOK, as_user="bob", pipelineId="demo")
    assert (status, body["runAs"], body["problem"]) == (200, "alice", "RUN_AS_LOST_PERMISSION")


def test_status_lists_the_webhook_audit(ports: ManagementPorts) -> None:
    enabled(ports)
    _, body = request("GET", WEBHOOK, as_user="bob", pipelineId="demo")
    assert [(a["actor"], a["action"]) for a in body["audit"]] == [("alice", "webhook.enable")]
    assert "url" not in body


def test_non_member_gets_404_for_the_webhook() -> None:
    status, body = request("GET", WEBHOOK, as_user="carol", pipelineId="demo")
    assert (status, body["code"]) == (404, "PIPELINE_NOT_FOUND")


# The webhook's signing secret


def test_owner_sets_the_signing_secret_and_the_answer_says_signed(
    ports: ManagementPorts, signing_secrets: FakeSigningSecrets
) -> None:
    enabled(ports)
    status, body = request("PUT", WEBHOOK_SECRET, {"secret": SECRET}, as_user="owen", pipelineId="demo")
    assert (status, body["signed"], body["enabled"], body["runAs"]) == (200, True, True, "alice")
    assert list(signing_secrets.values.values()) == [SECRET]


def test_the_secret_is_never_in_the_answer(ports: ManagementPorts) -> None:
    enabled(ports)
    _, body = request("PUT", WEBHOOK_SECRET, {"secret": SECRET}, as_user="owen", pipelineId="demo")
    assert SECRET not in json.dumps(body) and "url" not in body


def test_webhook_state_says_signed_after_a_secret_is_set(ports: ManagementPorts) -> None:
    enabled(ports)
    set_signing_secret(ports, OWEN, "demo", SECRET)
    status, body = request("GET", WEBHOOK, as_user="bob", pipelineId="demo")
    assert (status, body["signed"]) == (200, True)
    assert SECRET not in json.dumps(body)


def test_runner_may_not_set_the_signing_secret(ports: ManagementPorts) -> None:
    enabled(ports)
    status, body = request("PUT", WEBHOOK_SECRET, {"secret": SECRET}, pipelineId="demo")
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_a_secret_before_the_first_enable_is_404() -> None:
    status, body = request("PUT", WEBHOOK_SECRET, {"secret": SECRET}, as_user="owen", pipelineId="demo")
    assert (status, body["code"]) == (404, "WEBHOOK_NOT_FOUND")


def test_a_short_secret_is_422_naming_the_field_without_its_value(ports: ManagementPorts) -> None:
    enabled(ports)
    status, body = request("PUT", WEBHOOK_SECRET, {"secret": "short-s3cr3t"}, as_user="owen", pipelineId="demo")
    assert (status, body["code"], [e["name"] for e in body["errors"]]) == (422, "INVALID_REQUEST", ["secret"])
    assert "short-s3cr3t" not in json.dumps(body)


@pytest.mark.parametrize("change", [{}, {"secret": 12345678901234567890}, {"secret": SECRET, "extra": 1}])
def test_a_secret_body_of_another_shape_is_422(ports: ManagementPorts, change: dict[str, Any]) -> None:
    enabled(ports)
    status, body = request("PUT", WEBHOOK_SECRET, change, as_user="owen", pipelineId="demo")
    assert (status, body["code"]) == (422, "INVALID_REQUEST")


def test_a_secret_body_that_is_not_json_is_400(ports: ManagementPorts) -> None:
    enabled(ports)
    status, body = request("PUT", WEBHOOK_SECRET, SECRET, as_user="owen", pipelineId="demo")
    assert (status, body["code"]) == (400, "INVALID_JSON")


def test_the_secret_is_never_logged_whether_taken_or_refused(ports: ManagementPorts) -> None:
    enabled(ports)
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(logger.registered_formatter)
    logging.getLogger("hookrun").addHandler(capture)
    try:
        request("PUT", WEBHOOK_SECRET, {"secret": SECRET}, as_user="owen", pipelineId="demo")
        request("PUT", WEBHOOK_SECRET, {"secret": SECRET[:15]}, as_user="owen", pipelineId="demo")
        request("PUT", WEBHOOK_SECRET, {"secret": SECRET}, as_user="bob", pipelineId="demo")
    finally:
        logging.getLogger("hookrun").removeHandler(capture)
    logged = stream.getvalue()
    assert "INVALID_REQUEST" in logged and "FORBIDDEN" in logged
    assert SECRET[:15] not in logged


def test_owner_removes_the_signing_secret_with_204(ports: ManagementPorts, signing_secrets: FakeSigningSecrets) -> None:
    enabled(ports)
    set_signing_secret(ports, OWEN, "demo", SECRET)
    status, _ = request("DELETE", WEBHOOK_SECRET, as_user="owen", pipelineId="demo")
    assert status == 204 and signing_secrets.values == {}
    assert request("GET", WEBHOOK, as_user="owen", pipelineId="demo")[1]["signed"] is False


def test_viewer_may_not_remove_the_signing_secret(ports: ManagementPorts) -> None:
    enabled(ports)
    status, body = request("DELETE", WEBHOOK_SECRET, as_user="bob", pipelineId="demo")
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_the_secret_routes_of_an_unknown_pipeline_are_404() -> None:
    status, body = request("DELETE", WEBHOOK_SECRET, as_user="admin", pipelineId="Bad_Id")
    assert (status, body["code"]) == (404, "PIPELINE_NOT_FOUND")


# GET /api/pipelines/{pipelineId}/deliveries


def demo_incarnation() -> str:
    stored = composition.container().management_ports.store.get_pipeline("demo")
    assert stored is not None
    return stored.incarnation


def record(log: FakeDeliveryLog, count: int) -> None:
    """`count` deliveries of demo, one second apart: the last is the newest."""
    for second in range(count):
        log.record(
            Delivery(
                pipeline_id="demo",
                incarnation=demo_incarnation(),
                received_at=f"2026-11-27T12:00:{second:02d}.000Z",
                source="github",
                event="push",
                delivery_id=f"delivery-{second}",
                outcome=Outcome.RUN_STARTED,
                run_id=f"run-{second:029x}",
                run_as="alice",
            )
        )


def list_deliveries(query: dict[str, str] | None = None, as_user: str = "bob") -> tuple[int, dict[str, Any]]:
    event = api_request("GET", DELIVERIES, {"pipelineId": "demo"}, user=as_user)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    return call(event)


def test_viewer_lists_deliveries_newest_first_with_every_field(deliveries: FakeDeliveryLog) -> None:
    record(deliveries, 2)
    status, body = list_deliveries()
    assert status == 200 and body["nextCursor"] is None
    assert body["deliveries"][0] == {
        "receivedAt": "2026-11-27T12:00:01.000Z",
        "source": "github",
        "event": "push",
        "deliveryId": "delivery-1",
        "outcome": "RUN_STARTED",
        "reason": None,
        "runId": f"run-{1:029x}",
        "runAs": "alice",
    }


def test_a_rejected_delivery_shows_its_reason(deliveries: FakeDeliveryLog) -> None:
    rejected = Delivery(
        pipeline_id="demo",
        incarnation=demo_incarnation(),
        received_at=NOW,
        source="github",
        outcome=Outcome.REJECTED,
        reason="INVALID_SIGNATURE",
    )
    deliveries.record(rejected)
    (shown,) = list_deliveries()[1]["deliveries"]
    assert (shown["outcome"], shown["reason"], shown["runId"]) == ("REJECTED", "INVALID_SIGNATURE", None)


def test_a_limit_given_twice_is_invalid_parameter_in_the_apis_shape() -> None:
    event = api_request("GET", DELIVERIES, {"pipelineId": "demo"}, user="bob")
    event["queryStringParameters"] = {"limit": "500"}
    event["multiValueQueryStringParameters"] = {"limit": ["1", "500"]}
    status, body = call(event)
    assert (status, set(body), body["code"]) == (400, {"code", "message"}, "INVALID_PARAMETER")
    assert "limit" in body["message"] and "500" not in body["message"]


def test_deliveries_default_to_pages_of_20(deliveries: FakeDeliveryLog) -> None:
    record(deliveries, 25)
    _, body = list_deliveries()
    assert len(body["deliveries"]) == 20 and body["nextCursor"]


def test_the_next_cursor_gives_the_next_page(deliveries: FakeDeliveryLog) -> None:
    record(deliveries, 3)
    first = list_deliveries({"limit": "2"})[1]
    rest = list_deliveries({"limit": "2", "cursor": first["nextCursor"]})[1]
    ids = [d["deliveryId"] for d in first["deliveries"] + rest["deliveries"]]
    assert ids == ["delivery-2", "delivery-1", "delivery-0"] and rest["nextCursor"] is None


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5", ""])
def test_a_limit_outside_1_to_100_is_400(limit: str) -> None:
    status, body = list_deliveries({"limit": limit})
    assert (status, body["code"]) == (400, "INVALID_PARAMETER")


def test_a_cursor_this_list_did_not_hand_out_is_400() -> None:
    status, body = list_deliveries({"cursor": "not-a-cursor"})
    assert (status, body["code"]) == (400, "INVALID_CURSOR")


def test_non_member_gets_404_for_deliveries() -> None:
    status, body = list_deliveries(as_user="carol")
    assert (status, body["code"]) == (404, "PIPELINE_NOT_FOUND")


def test_admin_lists_the_deliveries_of_any_pipeline(deliveries: FakeDeliveryLog) -> None:
    record(deliveries, 1)
    status, body = list_deliveries(as_user="admin")
    assert (status, len(body["deliveries"])) == (200, 1)


# Who is calling


def test_request_without_a_user_is_401() -> None:
    status, body = request("GET", "/api/pipelines", as_user=None)
    assert (status, body["code"]) == (401, "UNAUTHENTICATED")


def test_user_header_is_ignored_when_deployed(on_aws: None) -> None:
    event = api_request("PUT", USER, {"userId": "mallory"}, "{}", user="admin", user_arn=ALICE_ARN)
    status, body = call(event)
    assert (status, body["code"]) == (401, "UNAUTHENTICATED")


def test_deployed_caller_is_the_user_mapped_to_its_principal(on_aws: None, ports: ManagementPorts) -> None:
    put_user(ports, ADMIN, "owen", UserStatus.ACTIVE, (ALICE_ARN,))
    event = api_request("POST", f"{WEBHOOK}/enable", {"pipelineId": "demo"}, user="alice", user_arn=ALICE_ARN)
    status, body = call(event)
    assert (status, body["runAs"]) == (201, "owen")


def test_admin_principal_without_a_user_acts_under_its_arn(on_aws: None, store: FakeManagementStore) -> None:
    admins(ADMIN_ARN)
    event = api_request("PUT", PIPELINE, {"pipelineId": "new"}, json.dumps(pipeline_file(id="new")), user_arn=ADMIN_ARN)
    assert call(event)[0] == 201
    assert store.grants[("new", ADMIN_ARN)].role == "owner"


def test_admin_principal_may_add_users(on_aws: None) -> None:
    admins(ADMIN_ARN)
    status, _ = call(api_request("PUT", USER, {"userId": "dave"}, "{}", user=None, user_arn=ADMIN_ARN))
    assert status == 201


# Outages


def test_a_throttled_store_is_503_with_retry_after(store: FakeManagementStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def throttled(pipeline_id: str) -> None:
        raise Unavailable(retry_after_seconds=4)

    monkeypatch.setattr(store, "get_pipeline", throttled)
    response = api.handler(api_request("GET", PIPELINE, {"pipelineId": "demo"}), FakeLambdaContext())  # type: ignore[arg-type]
    assert (response["statusCode"], response["multiValueHeaders"]["Retry-After"]) == (503, ["4"])


# Source credentials

CREDENTIALS = "/api/pipelines/{pipelineId}/credentials/{name}"
TOKEN = "ghp_" + "x" * 36


class FakeSourceCredentials:
    def __init__(self) -> None:
        self.tokens: dict[tuple[str, str], str] = {}

    def put_source_token(self, pipeline_id: str, name: str, token: str) -> None:
        self.tokens[pipeline_id, name] = token

    def delete_source_token(self, pipeline_id: str, name: str) -> None:
        self.tokens.pop((pipeline_id, name), None)


@pytest.fixture
def credentials(ports: ManagementPorts) -> Iterator[FakeSourceCredentials]:
    store = FakeSourceCredentials()
    composition.use_container(FakeContainer(dataclasses.replace(ports, source_credentials=store)))
    yield store


def test_owner_stores_a_token_and_it_is_never_answered(credentials: FakeSourceCredentials) -> None:
    status, body = request("PUT", CREDENTIALS, {"token": TOKEN}, as_user="owen", pipelineId="demo", name="gh")
    assert (status, body) == (204, {})
    assert credentials.tokens == {("demo", "gh"): TOKEN}


def test_owner_removes_a_token(credentials: FakeSourceCredentials) -> None:
    credentials.tokens["demo", "gh"] = TOKEN
    status, _ = request("DELETE", CREDENTIALS, as_user="owen", pipelineId="demo", name="gh")
    assert (status, credentials.tokens) == (204, {})


def test_runner_may_not_store_a_token(credentials: FakeSourceCredentials) -> None:
    status, body = request("PUT", CREDENTIALS, {"token": TOKEN}, pipelineId="demo", name="gh")
    assert (status, body["code"], credentials.tokens) == (403, "FORBIDDEN", {})


def test_a_token_with_spaces_is_refused_without_echoing_it(credentials: FakeSourceCredentials) -> None:
    status, body = request("PUT", CREDENTIALS, {"token": "ghp x"}, as_user="owen", pipelineId="demo", name="gh")
    assert (status, body["code"], credentials.tokens) == (422, "INVALID_REQUEST", {})
    assert "ghp x" not in json.dumps(body)


def test_a_malformed_credentials_name_is_refused(credentials: FakeSourceCredentials) -> None:
    status, body = request("PUT", CREDENTIALS, {"token": TOKEN}, as_user="owen", pipelineId="demo", name="-x")
    assert (status, body["code"], credentials.tokens) == (422, "INVALID_REQUEST", {})


def test_deleting_a_pipeline_deletes_the_credentials_it_names(
    credentials: FakeSourceCredentials, store: FakeManagementStore
) -> None:
    status, _ = request(
        "PUT", PIPELINE, pipeline_file(id="src", source={"credentials": "gh"}), as_user="owen", pipelineId="src"
    )
    assert status == 201
    credentials.tokens["src", "gh"] = TOKEN
    credentials.tokens["demo", "gh"] = TOKEN
    status, _ = request("DELETE", PIPELINE, as_user="owen", pipelineId="src")
    assert (status, credentials.tokens) == (204, {("demo", "gh"): TOKEN})
