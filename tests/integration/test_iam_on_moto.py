"""The webhook handler on a moto server with IAM enforced, signing as its own role created from template.yaml.

A permission the template forgets fails here as on AWS: the AWS call is denied and the handler fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from domain.models import Role
from handlers import composition
from handlers.composition import Container, Settings
from hookrun.local_iam import ADMIN, LocalRoles, RoleDefinition, create_local_iam, enforce, without_action
from hookrun.template import (
    create_table,
    load_template,
    local_resources,
    state_machine_definition,
    substitution_names,
)
from tests.aws_calls import CALLS, LIBRARY_CALLS, CallRecorder, record_aws_calls
from tests.conftest import REGION
from tests.directory import DynamoDirectory, seed_demo
from tests.integration.test_webhook_on_moto import fail_with
from tests.support import call_webhook, load_event, webhook_event

STACK = "hookrun-iam"
ACCOUNT = "123456789012"
WEBHOOK = "WebhookFunction"
RESOURCES = local_resources(load_template(), STACK, REGION, ACCOUNT)
TABLE = RESOURCES["HookrunTable"].ref
STATE_MACHINE_ARN = RESOURCES["PipelineStateMachine"].ref
Change = Callable[[dict[str, RoleDefinition]], dict[str, RoleDefinition]]


@dataclass(frozen=True)
class EnforcedMoto:
    endpoint: str
    iam: LocalRoles

    def client(self, service: str, credentials: Any = ADMIN) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service, endpoint_url=self.endpoint, region_name=REGION, **credentials.client_arguments()
        )


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's backends and its authorization switch are this process's: start empty, leave them as found
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    try:
        yield endpoint
    finally:
        enforce(endpoint, enforced=False)
        requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        server.stop()


def start(endpoint: str, change: Change | None = None) -> EnforcedMoto:
    """The table, state machine and roles as the local stack creates them; the demo pipeline; IAM enforced."""
    admin = EnforcedMoto(endpoint, LocalRoles({}, {}))
    local_iam = create_local_iam(
        admin.client("iam"), admin.client("sts"), stack_name=STACK, region=REGION, account_id=ACCOUNT, change=change
    )
    dynamodb = admin.client("dynamodb")
    create_table(dynamodb, TABLE)
    missing = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:not-deployed"
    admin.client("stepfunctions").create_state_machine(
        name=RESOURCES["PipelineStateMachine"].attributes["Name"],
        definition=state_machine_definition(dict.fromkeys(substitution_names(), missing)),
        roleArn=local_iam.role_arns["PipelineStateMachine"],
    )
    seed_demo(DynamoDirectory(dynamodb, TABLE), {"alice": Role.RUNNER})
    enforce(endpoint)
    return EnforcedMoto(endpoint, local_iam)


@pytest.fixture
def as_webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[EnforcedMoto], Container]]:
    """Wire the webhook handler as its function runs: its role's credentials, the table and state machine."""

    def wire(moto: EnforcedMoto) -> Container:
        monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
        for name, value in moto.iam.credentials[WEBHOOK].environment().items():
            monkeypatch.setenv(name, value)
        wiring = Container(Settings(table_name=TABLE, state_machine_arn=STATE_MACHINE_ARN))
        composition.use_container(wiring)
        return wiring

    yield wire
    composition.use_container(None)


def executions(moto: EnforcedMoto) -> list[Any]:
    return list(moto.client("stepfunctions").list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"])


def test_without_credentials_of_a_principal_moto_refuses_every_call(moto_endpoint: str) -> None:
    moto = start(moto_endpoint)
    stranger = boto3.client(
        "dynamodb",
        endpoint_url=moto.endpoint,
        region_name=REGION,
        aws_access_key_id="AKIAUNKNOWNPRINCIPAL",
        aws_secret_access_key="unknown",
    )
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        stranger.get_item(TableName=TABLE, Key={"pk": {"S": "x"}, "sk": {"S": "x"}})


def test_webhook_role_from_the_template_starts_a_run(
    moto_endpoint: str, as_webhook: Callable[[EnforcedMoto], Container]
) -> None:
    moto = start(moto_endpoint)
    as_webhook(moto)
    status, body, _ = call_webhook(webhook_event(body='{"API_KEY":"s3cr3t-value"}'))
    assert status == 202
    assert [execution["name"] for execution in executions(moto)] == [body["runId"]]


def test_webhook_role_may_not_touch_what_the_webhook_never_does(
    moto_endpoint: str, as_webhook: Callable[[EnforcedMoto], Container]
) -> None:
    moto = start(moto_endpoint)
    wiring = as_webhook(moto)
    with pytest.raises(ClientError, match="AccessDenied") as denied:
        wiring._dynamodb.scan(TableName=TABLE)
    assert f"assumed-role/{STACK}-WebhookFunctionRole/{WEBHOOK}" in str(denied.value)


def test_webhook_without_start_execution_fails_as_on_aws(
    moto_endpoint: str, as_webhook: Callable[[EnforcedMoto], Container]
) -> None:
    moto = start(moto_endpoint, lambda roles: without_action(roles, "WebhookFunctionRole", "states:StartExecution"))
    as_webhook(moto)
    # the handler raises, as on AWS: Lambda reports an unhandled error and API Gateway answers 502
    with pytest.raises(ClientError, match="not authorized to perform: states:StartExecution"):
        call_webhook(load_event("webhook-general.json"))
    assert executions(moto) == []


def test_unavailable_start_deletes_the_run_secrets_it_stored(
    moto_endpoint: str, as_webhook: Callable[[EnforcedMoto], Container]
) -> None:
    moto = start(moto_endpoint)
    wiring = as_webhook(moto)
    fail_with(wiring._stepfunctions, "StartExecution", "ThrottlingException")
    status, body, _ = call_webhook(webhook_event(body='{"API_KEY":"s3cr3t-value"}'))
    assert (status, body["code"]) == (503, "UNAVAILABLE")
    items = moto.client("dynamodb").scan(TableName=TABLE)["Items"]
    assert [item for item in items if item["sk"]["S"] == "SECRETS"] == []
    assert "s3cr3t-value" not in json.dumps(items)


def test_the_webhook_makes_exactly_the_calls_its_role_is_checked_for(
    moto_endpoint: str, as_webhook: Callable[[EnforcedMoto], Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    moto = start(moto_endpoint)
    wiring = as_webhook(moto)
    recorder = CallRecorder()
    record_aws_calls(recorder, monkeypatch)
    with recorder.as_function(WEBHOOK):
        assert call_webhook(webhook_event(body='{"API_KEY":"s3cr3t-value"}'))[0] == 202
        for _ in range(2):  # a redelivery: its run's request read from the execution input it travels in
            assert call_webhook(webhook_event(headers={"Idempotency-Key": "deploy-1"}))[0] == 202
        assert (
            call_webhook(load_event("webhook-undeclared-variable.json"))[0] == 422
        )  # rejected: its delivery is recorded
        fail_with(wiring._stepfunctions, "StartExecution", "ThrottlingException")
        assert call_webhook(webhook_event(body='{"API_KEY":"another-value"}'))[0] == 503  # its secret is taken back
    # its role allows each (resource and dynamodb:LeadingKeys included), and CALLS lists each and no other
    assert recorder.not_allowed() == []
    recorded = {call.action for call in recorder.calls[WEBHOOK]}
    assert recorded == {call.action for call in CALLS[WEBHOOK]} - LIBRARY_CALLS
