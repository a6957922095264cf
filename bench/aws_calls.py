"""AWS calls per accepted webhook: the real handler and adapters on moto, every botocore call counted.

Every botocore client created in this process (whatever its session: boto3's default one, which moto resets,
or one of Powertools' own) gets `before-call` / `after-call` hooks, so no client is missed. Each call's start
and end are taken from those hooks; "sequential" is the longest chain of calls in which each one starts after
the previous one ended (calls that overlap would count once), so it equals the total when nothing runs
concurrently. Each call waits a round trip first, as on a network, so that calls made at once overlap.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from bench.common import (
    REGION,
    TABLE,
    Row,
    Section,
    at_most,
    fake_aws_environment,
    with_body,
    with_query,
    with_token,
)

ROLE_ARN = "arn:aws:iam::123456789012:role/hookrun-bench"
# executions are recorded, not run: a running workflow would make calls of its own on other threads
# DESIGN.md's bound for every path: at most 3 in a row. An accepted run makes 3: its slot is taken alongside the
# pipeline's read and a small request with no secret value travels in the execution input (issue 16.4); one with a
# secret value (b) or past INLINE_REQUEST_BYTES (g) makes 4: the PutItem of its request precedes StartExecution
SEQUENTIAL_GOALS = {"a": 3, "e": 3, "f": 3}
ROUND_TRIP_SECONDS = 0.005
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": False}, "lambda": {"use_docker": False}}


@dataclass
class Call:
    service: str
    operation: str
    thread: int
    start: float
    end: float | None = None

    def __str__(self) -> str:
        return f"{self.service}.{self.operation}"


class CallRecorder:
    """Records the AWS calls of every botocore client created after `install()`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def install(self) -> None:
        from botocore.session import Session

        original = Session.create_client
        recorder = self

        def create_client(session: Session, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            client.meta.events.register("before-call", recorder.before_call)
            client.meta.events.register("after-call", recorder.after_call)
            client.meta.events.register("after-call-error", recorder.after_call)
            return client

        Session.create_client = create_client  # type: ignore[method-assign,assignment]

    def before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        context["bench_call"] = call = Call(
            model.service_model.service_name, model.name, threading.get_ident(), time.perf_counter()
        )
        self.calls.append(call)
        # a network round trip, as on AWS: the thread waits without the GIL, so calls made at once overlap (moto
        # in-process answers holding the GIL, and would make them look one after the other)
        time.sleep(ROUND_TRIP_SECONDS)

    def after_call(self, context: dict[str, Any], **_: Any) -> None:
        call = context.get("bench_call")
        if isinstance(call, Call):
            call.end = time.perf_counter()

    def take(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls


def sequential_calls(calls: list[Call]) -> int:
    """The longest chain of calls each starting after the previous ended (interval scheduling by end time)."""
    chain, last_end = 0, float("-inf")
    for call in sorted(calls, key=lambda c: c.end if c.end is not None else c.start):
        if call.start >= last_end:
            chain += 1
            last_end = call.end if call.end is not None else call.start
    return chain


def _resources() -> tuple[str, str]:
    """Table from template.yaml, a state machine from statemachine/, the examples seeded: (state machine, token)."""
    import boto3

    from handlers.composition import Container, Settings
    from hookrun.local_stack import enable_example_webhook, seed_examples
    from hookrun.template import create_table, load_template, resources_of_type, state_machine_definition

    template = load_template()
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_table(dynamodb, TABLE, template)
    (machine,) = resources_of_type(template, "AWS::Serverless::StateMachine").values()
    arns = {
        name: f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
        for name in machine["Properties"].get("DefinitionSubstitutions", {})
    }
    arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name="hookrun-bench", definition=state_machine_definition(arns, template), roleArn=ROLE_ARN
    )["stateMachineArn"]
    ports = Container(Settings(TABLE, str(arn))).management_ports
    seed_examples(ports)
    return str(arn), enable_example_webhook(ports)


def _grow_example(state_machine_arn: str) -> None:
    """The demo pipeline applied again with its job's script past INLINE_REQUEST_BYTES: its requests are kept apart."""
    import yaml

    from domain.management import apply_pipeline
    from domain.models import Pipeline
    from domain.policy import Caller
    from handlers.composition import Container, Settings
    from hookrun.local_stack import ADMIN_USER, EXAMPLES

    data = yaml.safe_load((EXAMPLES / "demo.pipeline.yaml").read_text(encoding="utf-8"))
    data["stages"][0]["jobs"][0]["script"] += [": " + "x" * 998] * 10  # no-op lines of the shell
    ports = Container(Settings(TABLE, state_machine_arn)).management_ports
    apply_pipeline(ports, Caller(ADMIN_USER, is_admin=True), Pipeline.model_validate(data))


def measure(quick: bool) -> Section:
    from moto import mock_aws

    from handlers import composition, webhook
    from tests.support import FakeLambdaContext, load_event

    fake_aws_environment()
    recorder = CallRecorder()
    recorder.install()
    section = Section()
    with mock_aws(config=MOTO_CONFIG):
        state_machine_arn, token = _resources()
        composition.use_container(composition.Container(composition.Settings(TABLE, state_machine_arn)))
        general = with_token(load_event("webhook-general.json"), token)
        push = with_token(load_event("source-github-push.json"), token)
        dry_push = with_query(push, {"dryRun": "true"})
        cases = [
            ("{} webhook", "a", general, False),
            ("secret value", "b", with_body(general, '{"API_KEY":"s3cr3t-value"}'), False),
            ("GitHub push", "c", push, False),
            ("GitHub redelivery (replay)", "d", push, True),
            ("dry run of a GitHub push", "e", dry_push, None),
            (
                "dry run with a secret value",
                "f",
                with_query(with_body(general, '{"API_KEY":"s"}'), {"dryRun": "true"}),
                None,
            ),
            ("{} webhook, warm clients", "a'", general, False),
            ("{} webhook of a large pipeline", "g", general, False),
        ]
        recorder.take()  # the setup's own calls
        for label, key, event, replay in cases:
            if key == "g":
                _grow_example(state_machine_arn)
                recorder.take()
            response = webhook.handler(event, FakeLambdaContext())
            calls = recorder.take()
            body = json.loads(response["body"])
            if replay is None:  # a dry run: 200, nothing started
                answered = response["statusCode"] == 200 and body.get("decision") == "WOULD_RUN"
            else:
                answered = response["statusCode"] == 202 and body.get("replayed", False) is replay
            if not answered:
                raise RuntimeError(f"{label}: expected it answered, got {response['statusCode']} {body}")
            sequential, total = sequential_calls(calls), len(calls)
            threads = len({call.thread for call in calls})
            section.notes.append(
                f"({key}) {label}: {' -> '.join(map(str, calls))}  [{threads} thread(s), {sequential} sequential]"
            )
            section.data[key] = {"label": label, "calls": [str(c) for c in calls], "sequential": sequential}
            if key == "a'":
                continue  # a check that warm clients make the same calls: in the notes, not a row
            goal, met = at_most(sequential, SEQUENTIAL_GOALS[key]) if key in SEQUENTIAL_GOALS else ("", None)
            section.rows.append(Row(f"AWS calls ({key}) {label}: sequential", sequential, "calls", goal, met))
            section.rows.append(Row(f"AWS calls ({key}) {label}: total", total, "calls"))
        composition.use_container(None)
    return section
