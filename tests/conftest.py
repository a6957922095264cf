"""Fixtures: moto-backed AWS with the table and state machine created from template.yaml."""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handlers.composition import Container
from hookrun.template import create_table, state_machine_definition, substitution_names

REGION = "eu-west-1"
TABLE = "hookrun-test"
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def pytest_report_header() -> str:
    """Which Python runs the tests: the functions run on 3.12 (`make` uses a 3.12 when this machine has one)."""
    return f"python {platform.python_version()} ({sys.executable}); the functions' runtime is python3.12"


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever reaches real AWS: fake credentials, a fixed region."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Hookrun")
    monkeypatch.setenv("POWERTOOLS_DEV", "false")


@pytest.fixture(autouse=True)
def _admin_principals_as_configured() -> Iterator[None]:
    """tests.support.admins() lasts one test: then AdminPrincipals come from each container's settings again."""
    configured = Container.__dict__["admin_principals"]
    yield
    Container.admin_principals = configured  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _no_cli_config(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The CLI's config file of the machine's user never leaks into a test: each test gets none."""
    monkeypatch.setenv("HOOKRUN_CONFIG", str(tmp_path_factory.mktemp("config") / "config.toml"))


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(config=MOTO_CONFIG):
        yield


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client, TABLE)
    return client


@pytest.fixture
def stepfunctions(aws: None) -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def state_machine_arn(stepfunctions: Any, dynamodb: Any) -> str:
    # functions that do not exist: these tests look at how runs are started, not at what they do
    missing = "arn:aws:lambda:eu-west-1:123456789012:function:not-deployed"
    definition = state_machine_definition(dict.fromkeys(substitution_names(), missing))
    response = stepfunctions.create_state_machine(
        name="hookrun-pipeline", definition=definition, roleArn="arn:aws:iam::123456789012:role/hookrun-sfn"
    )
    return str(response["stateMachineArn"])
