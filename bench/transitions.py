"""State transitions per run: the real definition run by moto's interpreter, the real handlers in-process.

Set up as tests/workflow/conftest.py does (functions in moto's Docker-free Lambda, served by
hookrun.lambda_bridge; codebuild builds by the local stack's CodeBuild, hookrun.local_codebuild); a run of
3 stages x 2 jobs running `true`, once with lambda jobs and once with codebuild jobs; each history's
`*StateEntered` events counted, as Step Functions bills them.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections import Counter
from typing import Any

from bench.common import REGION, TABLE, Row, Section, at_most, fake_aws_environment

MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
ROLE_ARN = "arn:aws:iam::123456789012:role/hookrun-bench"
STAGES, JOBS = 3, 2
RUNNERS = ("lambda", "codebuild")
TIMEOUT_SECONDS = 120
_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "served in-process by hookrun.lambda_bridge")
    return buffer.getvalue()


def _state_machine() -> str:
    """Functions and state machine from template.yaml on moto; the state machine's ARN."""
    import boto3

    from hookrun.template import create_table, function_properties, load_template, state_machine_definition

    template = load_template()
    create_table(boto3.client("dynamodb", region_name=REGION), TABLE, template)
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="hookrun-bench", AssumeRolePolicyDocument=json.dumps(_TRUST)
    )["Role"]["Arn"]
    lambda_client = boto3.client("lambda", region_name=REGION)
    functions = function_properties(template)
    arns = {}
    for logical_id, properties in functions.items():  # every function: the workflow's, and the job runner
        arns[f"{logical_id}Arn"] = lambda_client.create_function(
            FunctionName=f"hookrun-bench-{logical_id}",
            Runtime="python3.12",
            Role=role,
            Handler=properties["Handler"],
            Timeout=properties.get("Timeout", 10),
            Code={"ZipFile": _zip()},
        )["FunctionArn"]
    arns["BuildProjectName"] = boto3.client("codebuild", region_name=REGION).create_project(
        name="hookrun-bench-build",
        source={"type": "NO_SOURCE", "location": "-"},  # moto asks a location even of NO_SOURCE
        artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "bench", "computeType": "BUILD_GENERAL1_SMALL"},
        serviceRole=role,
    )["project"]["name"]
    return str(
        boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="hookrun-bench", definition=state_machine_definition(arns, template), roleArn=ROLE_ARN
        )["stateMachineArn"]
    )


def measure(quick: bool) -> Section:
    fake_aws_environment()
    import boto3
    from moto import mock_aws

    from adapters.dynamodb import DynamoRunSecrets
    from handlers import composition
    from hookrun import lambda_bridge, local_codebuild
    from tests.directory import DynamoDirectory
    from tests.workflow.conftest import Workflow

    with mock_aws(config=MOTO_CONFIG):
        lambda_bridge.install()
        local_codebuild.install()
        arn = _state_machine()
        os.environ.update(
            {"TABLE_NAME": TABLE, "STATE_MACHINE_ARN": arn, "JOB_RUNNER_FUNCTION": "hookrun-bench-JobRunnerFunction"}
        )
        composition.use_container(None)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        workflow = Workflow(
            boto3.client("stepfunctions", region_name=REGION),
            arn,
            DynamoDirectory(dynamodb, TABLE),
            DynamoRunSecrets(dynamodb, TABLE, time.time),
        )
        counted = {runner: _count(workflow, runner) for runner in RUNNERS}
        composition.use_container(None)
    rows, notes = [], []
    for runner, (transitions, entered, events, duration) in counted.items():
        # the goal: codebuild jobs take no more transitions than lambda jobs (issue 10)
        goal, met = at_most(transitions, 18 if runner == "lambda" else counted["lambda"][0])
        rows.append(
            Row(f"State transitions per run, {STAGES} stages x {JOBS} {runner} jobs", transitions, "states", goal, met)
        )
        notes.append(
            f"{runner} jobs: states entered ({events} history events, {duration:.1f} s on moto): "
            + ", ".join(f"{name} x{count}" for name, count in entered.items())
        )
    return Section(
        rows=rows,
        notes=notes,
        data={
            runner: {"transitions": t, "history_events": e, "entered": dict(n)}
            for runner, (t, n, e, _) in counted.items()
        },
    )


def _count(workflow: Any, runner: str) -> tuple[int, Counter[str], int, float]:
    from tests.workflow.conftest import pipeline, state_transitions

    stages = [
        {
            "name": f"stage{s}",
            "jobs": [{"name": f"job{j}", "script": ["true"], "runner": runner} for j in range(1, JOBS + 1)],
        }
        for s in range(1, STAGES + 1)
    ]
    started = time.perf_counter()
    run_id = workflow.start(pipeline(stages))
    execution = workflow.wait(run_id, timeout=TIMEOUT_SECONDS)
    duration = time.perf_counter() - started
    history = workflow.history(run_id)
    if execution["status"] != "SUCCEEDED":
        failures = [e for e in history if e["type"].endswith("Failed")][:1]
        raise RuntimeError(f"the {STAGES}x{JOBS} run of {runner} jobs ended {execution['status']}: {failures}")
    entered = Counter(
        event["stateEnteredEventDetails"]["name"] for event in history if event["type"].endswith("StateEntered")
    )
    return state_transitions(history), entered, len(history), duration
