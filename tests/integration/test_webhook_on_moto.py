"""The webhook handler with its real adapters on moto: table from template.yaml, a real state machine."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from domain.models import Role, User, UserStatus
from domain.tokens import hash_token
from handlers.composition import Container, Settings
from handlers.observability import logger
from tests.conftest import TABLE
from tests.directory import DynamoDirectory, demo_trigger, seed_demo
from tests.support import DEMO_TOKEN, call_webhook, load_event, using_container, webhook_event


@pytest.fixture
def directory(dynamodb: Any) -> DynamoDirectory:
    directory = DynamoDirectory(dynamodb, TABLE)
    seed_demo(directory, {"alice": Role.RUNNER, "bob": Role.VIEWER})
    return directory


@pytest.fixture
def wired(state_machine_arn: str, directory: DynamoDirectory) -> Iterator[Container]:
    wiring = Container(Settings(table_name=TABLE, state_machine_arn=state_machine_arn))
    with using_container(wiring):
        yield wiring


def execution_input(stepfunctions: Any, state_machine_arn: str, run_id: str) -> dict[str, Any]:
    arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{run_id}"
    return dict(json.loads(stepfunctions.describe_execution(executionArn=arn)["input"]))


def kept_request(dynamodb: Any, run_id: str) -> dict[str, Any]:
    """The run's request as its accept kept it, for the workflow to read."""
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"RUN#{run_id}#REQUEST"}, "sk": {"S": "REQUEST"}})
    return dict(json.loads(item["Item"]["request"]["S"]))


def count_calls(client: Any, calls: list[str]) -> None:
    client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))


def fail_with(client: Any, operation: str, code: str) -> None:
    """Make every `operation` call on `client` fail with the AWS error `code`."""

    def short_circuit(**_: Any) -> tuple[Any, dict[str, Any]]:
        http = AWSResponse(url="https://injected", status_code=400, headers={}, raw=None)
        return http, {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 400}}

    client.meta.events.register(f"before-call.{client.meta.service_model.service_name}.{operation}", short_circuit)


def test_general_webhook_starts_an_execution_that_carries_its_small_request_inline(
    wired: Container, dynamodb: Any, stepfunctions: Any, state_machine_arn: str
) -> None:
    status, body, _ = call_webhook(load_event("webhook-general.json"))
    assert status == 202
    started = execution_input(stepfunctions, state_machine_arn, body["runId"])
    assert (started["runId"], started["pipelineId"]) == (body["runId"], "demo")
    run = started["request"]  # the workflow's first state keeps it; the webhook wrote none
    assert run["variables"]["abc"] == "123"
    assert run["runAs"] == "alice"
    assert run["stages"][0]["jobs"][0]["script"] == ['echo "abc is $abc"']
    assert "stages" not in started and "variables" not in started


def test_a_webhook_with_a_secret_value_keeps_its_request_and_starts_an_execution_that_names_it(
    wired: Container, dynamodb: Any, stepfunctions: Any, state_machine_arn: str
) -> None:
    status, body, _ = call_webhook(webhook_event(body='{"API_KEY":"s3cr3t-value"}'))
    assert status == 202
    assert kept_request(dynamodb, body["runId"])["secretNames"] == ["API_KEY"]
    started = execution_input(stepfunctions, state_machine_arn, body["runId"])
    assert started["runId"] == body["runId"] and "request" not in started


def test_variable_webhook_carries_the_override_in_the_runs_request(
    wired: Container, stepfunctions: Any, state_machine_arn: str
) -> None:
    status, body, _ = call_webhook(load_event("webhook-variables.json"))
    assert status == 202
    assert execution_input(stepfunctions, state_machine_arn, body["runId"])["request"]["variables"]["abc"] == "456"


def test_accepted_path_makes_four_aws_calls_its_run_slot_taken_alongside_the_pipeline_read(wired: Container) -> None:
    calls: list[str] = []
    call_webhook(load_event("webhook-general.json"))  # first call builds the clients
    count_calls(wired._dynamodb, calls)
    count_calls(wired._stepfunctions, calls)
    status, _, _ = call_webhook(load_event("webhook-general.json"))
    assert status == 202
    assert (calls[0], sorted(calls[1:3]), calls[3:]) == (
        "GetItem",
        ["BatchGetItem", "UpdateItem"],
        ["StartExecution"],  # its small request inline: none kept before it
    )


def test_a_replay_is_202_with_the_first_runs_variables_and_a_reused_key_409(wired: Container) -> None:
    key = {"Idempotency-Key": "deploy-42"}
    first = call_webhook(webhook_event(body='{"abc":"456"}', headers=key))
    replay = call_webhook(webhook_event(body='{"abc": "456"}', headers=key))
    reused = call_webhook(webhook_event(body='{"abc":"789"}', headers=key))
    assert (first[0], replay[0], reused[0]) == (202, 202, 409)
    assert replay[1]["replayed"] and replay[1]["runId"] == first[1]["runId"] and replay[1]["variables"]["abc"] == "456"
    assert (reused[1]["code"], reused[1]["runId"]) == ("IDEMPOTENCY_KEY_REUSED", first[1]["runId"])


def test_a_replay_keeps_the_first_runs_secret_record(wired: Container, dynamodb: Any) -> None:
    key = {"Idempotency-Key": "deploy-43"}
    _, body, _ = call_webhook(webhook_event(body='{"API_KEY":"first-value"}', headers=key))
    assert call_webhook(webhook_event(body='{"API_KEY":"other-value"}', headers=key))[0] == 409
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"RUN#{body['runId']}"}, "sk": {"S": "SECRETS"}})
    assert json.loads(item["Item"]["values"]["S"]) == {"API_KEY": "first-value"}


def test_a_webhook_whose_start_fails_keeps_neither_its_request_nor_its_secret_values(
    wired: Container, dynamodb: Any
) -> None:
    first = call_webhook(load_event("webhook-general.json"))[1]["runId"]  # the clients are made
    fail_with(wired._stepfunctions, "StartExecution", "ThrottlingException")

    status, body, _ = call_webhook(webhook_event(body='{"API_KEY":"s3cr3t-value"}'))

    assert (status, body["code"]) == (503, "UNAVAILABLE")
    kept = dynamodb.scan(
        TableName=TABLE,
        FilterExpression="sk IN (:request, :secrets)",
        ExpressionAttributeValues={":request": {"S": "REQUEST"}, ":secrets": {"S": "SECRETS"}},
    )["Items"]
    assert first and kept == []  # the first one's request travels in its execution input


def test_query_parameters_other_than_dry_run_are_400(wired: Container) -> None:
    event = webhook_event()
    event["queryStringParameters"] = {"abc": "456"}
    status, body, _ = call_webhook(event)
    assert (status, body["code"]) == (400, "UNSUPPORTED_QUERY") and "'abc'" in body["message"]


def test_secret_values_are_stored_with_the_run_and_never_in_execution_input(
    wired: Container, dynamodb: Any, stepfunctions: Any, state_machine_arn: str
) -> None:
    status, body, _ = call_webhook(webhook_event(body='{"API_KEY":"s3cr3t-value"}'))
    assert status == 202
    raw_input = json.dumps(execution_input(stepfunctions, state_machine_arn, body["runId"]))
    request = kept_request(dynamodb, body["runId"])
    assert "s3cr3t-value" not in raw_input + json.dumps(request)
    assert request["secretNames"] == ["API_KEY"]  # by name only, so the job runner knows to fetch it
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"RUN#{body['runId']}"}, "sk": {"S": "SECRETS"}})
    assert json.loads(item["Item"]["values"]["S"]) == {"API_KEY": "s3cr3t-value"}
    assert "expiresAt" in item["Item"]


def test_removed_grant_fails_the_very_next_call(wired: Container, directory: DynamoDirectory) -> None:
    assert call_webhook(load_event("webhook-general.json"))[0] == 202
    directory.delete_grant("demo", "alice")
    status, body, _ = call_webhook(load_event("webhook-general.json"))
    assert (status, body["code"], body["runAs"]) == (403, "INSUFFICIENT_PERMISSIONS", "alice")


def test_suspended_user_fails_the_very_next_call(wired: Container, directory: DynamoDirectory) -> None:
    assert call_webhook(load_event("webhook-general.json"))[0] == 202
    directory.save_user(User(id="alice", status=UserStatus.SUSPENDED))
    status, body, _ = call_webhook(load_event("webhook-general.json"))
    assert (status, body["code"], body["runAs"]) == (403, "INSUFFICIENT_PERMISSIONS", "alice")


def test_viewer_as_run_as_user_is_refused(wired: Container, directory: DynamoDirectory) -> None:
    directory.save_trigger(demo_trigger(run_as="bob"))
    status, body, _ = call_webhook(load_event("webhook-general.json"))
    assert (status, body["code"], body["runAs"]) == (403, "INSUFFICIENT_PERMISSIONS", "bob")


def test_disabled_trigger_is_403(wired: Container, directory: DynamoDirectory) -> None:
    directory.save_trigger(demo_trigger(enabled=False))
    status, body, _ = call_webhook(load_event("webhook-general.json"))
    assert (status, body["code"]) == (403, "WEBHOOK_DISABLED")


@pytest.mark.parametrize(
    ("event_file", "status", "code"),
    [
        ("webhook-unknown-token.json", 404, "WEBHOOK_NOT_FOUND"),
        ("webhook-invalid-json.json", 400, "INVALID_JSON"),
        ("webhook-undeclared-variable.json", 422, "INVALID_VARIABLES"),
    ],
)
def test_rejected_events_start_no_execution(
    wired: Container, stepfunctions: Any, state_machine_arn: str, event_file: str, status: int, code: str
) -> None:
    got_status, body, _ = call_webhook(load_event(event_file))
    assert (got_status, body["code"]) == (status, code)
    assert stepfunctions.list_executions(stateMachineArn=state_machine_arn)["executions"] == []


def test_unsupported_media_type_and_payload_too_large(wired: Container) -> None:
    assert (
        call_webhook(webhook_event(body='{"abc":"1"}', content_type="text/plain"))[1]["code"]
        == "UNSUPPORTED_MEDIA_TYPE"
    )
    assert call_webhook(webhook_event(body=json.dumps({"abc": "x" * 70000})))[1]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    ("service", "operation", "code"),
    [
        ("dynamodb", "GetItem", "ProvisionedThroughputExceededException"),
        ("dynamodb", "BatchGetItem", "ThrottlingException"),
        ("stepfunctions", "StartExecution", "ThrottlingException"),
        ("stepfunctions", "StartExecution", "ServiceUnavailable"),
        ("dynamodb", "GetItem", "InternalServerError"),
        ("dynamodb", "BatchGetItem", "RequestLimitExceeded"),
        ("stepfunctions", "StartExecution", "InternalFailure"),
    ],
)
def test_throttled_or_unavailable_aws_is_503_with_retry_after(
    wired: Container, service: str, operation: str, code: str
) -> None:
    call_webhook(load_event("webhook-general.json"))
    fail_with(wired._dynamodb if service == "dynamodb" else wired._stepfunctions, operation, code)
    status, body, headers = call_webhook(load_event("webhook-general.json"))
    assert (status, body["code"]) == (503, "UNAVAILABLE")
    assert headers["Retry-After"].isdigit()


def test_tokens_are_stored_only_as_sha256_hashes(wired: Container, dynamodb: Any) -> None:
    call_webhook(load_event("webhook-general.json"))
    items = json.dumps(dynamodb.scan(TableName=TABLE)["Items"])
    assert DEMO_TOKEN not in items
    assert DEMO_TOKEN[3:] not in items
    assert hash_token(DEMO_TOKEN) in items


def test_token_never_appears_in_logs(wired: Container) -> None:
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(logger.registered_formatter)
    logging.getLogger("hookrun").addHandler(capture)
    try:
        for event in [
            load_event("webhook-general.json"),
            load_event("webhook-unknown-token.json"),
            load_event("webhook-undeclared-variable.json"),
        ]:
            call_webhook(event)
    finally:
        logging.getLogger("hookrun").removeHandler(capture)
    logged = stream.getvalue()
    assert "run started" in logged and "WEBHOOK_NOT_FOUND" in logged
    for token in (DEMO_TOKEN, load_event("webhook-unknown-token.json")["pathParameters"]["token"]):
        assert token not in logged


def test_throttled_start_leaves_no_secret_record_behind(wired: Container, dynamodb: Any) -> None:
    call_webhook(load_event("webhook-general.json"))
    fail_with(wired._stepfunctions, "StartExecution", "ThrottlingException")
    status, _, _ = call_webhook(webhook_event(body='{"API_KEY":"s3cr3t-value"}'))
    assert status == 503
    items = dynamodb.scan(TableName=TABLE)["Items"]
    assert not [item for item in items if item["sk"]["S"] == "SECRETS"]
    assert "s3cr3t-value" not in json.dumps(items)
