"""The local stack's CodeBuild: a build runs in its image with Docker when an engine answers, on the host otherwise.

There is no Docker engine on the test machine: a fake `docker` on PATH answers `docker info`, records every call,
and runs `docker run`'s command on the host in the mounted directory, with the environment docker was given.
"""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from hookrun import local_codebuild
from tests.conftest import REGION

ACCOUNT = "123456789012"
PROJECT = "hookrun-build"
SECRET = "s3cr3t-value-for-docker"
OWN_IMAGE = "public.ecr.aws/docker/library/python:3.12"

# `docker info` exits with INFO_EXIT; `docker run` runs bash in the directory mounted at -w, as a container would
FAKE_DOCKER = """#!{python}
import json, os, subprocess, sys
args = sys.argv[1:]
with open({calls!r}, "a") as calls:
    calls.write(json.dumps({{"args": args, "env": dict(os.environ)}}) + "\\n")
if args[0] == "info":
    sys.exit({info_exit})
if args[0] != "run":
    sys.exit(0)
mounts = dict(args[i + 1].split(":")[1::-1] for i, a in enumerate(args) if a == "-v" and args[i + 1].count(":") == 1)
workdir = mounts[args[args.index("-w") + 1]]
image_at = args.index("--entrypoint") + 2
sys.exit(subprocess.run([args[image_at - 1], *args[image_at + 1:]], cwd=workdir).returncode)
"""


@pytest.fixture
def codebuild(aws: None) -> Any:
    local_codebuild.install()
    client = boto3.client("codebuild", region_name=REGION)
    client.create_project(
        name=PROJECT,
        source={"type": "NO_SOURCE", "location": "-"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "test", "computeType": "BUILD_GENERAL1_SMALL"},
        serviceRole=f"arn:aws:iam::{ACCOUNT}:role/build",
    )
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="hookrun/test/runs/r/0/build", SecretString=json.dumps({"API_KEY": SECRET})
    )
    return secret["ARN"]


def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, info_exit: int = 0) -> Path:
    """A `docker` first on PATH; the file its calls are recorded in."""
    calls = tmp_path / "calls.jsonl"
    folder = tmp_path / "bin"
    folder.mkdir()
    docker = folder / "docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable, calls=str(calls), info_exit=info_exit))
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{folder}:/usr/local/bin:/usr/bin:/bin")
    return calls


def recorded_calls(calls: Path) -> Iterator[dict[str, Any]]:
    if calls.exists():
        yield from (json.loads(line) for line in calls.read_text().splitlines())


def build_with(secret_arn: str, image: str, script: str, *, privileged: bool = False) -> tuple[str, list[str]]:
    """Run one build to its end: its status and its log's lines."""
    spec = {"version": "0.2", "env": {"secrets-manager": {"API_KEY": f"{secret_arn}:API_KEY"}}}
    spec["phases"] = {"build": {"commands": [script]}}
    build = local_codebuild.start_build(
        ACCOUNT,
        REGION,
        {
            "ProjectName": PROJECT,
            "BuildspecOverride": json.dumps(spec),
            "ImageOverride": image,
            "PrivilegedModeOverride": privileged,
            "TimeoutInMinutesOverride": 5,
            "EnvironmentVariablesOverride": [{"Name": "abc", "Value": "456", "Type": "PLAINTEXT"}],
        },
    )
    assert build.done.wait(60)
    logs = boto3.client("logs", region_name=REGION)
    stream = build.metadata["logs"]["streamName"]
    events = logs.get_log_events(logGroupName=f"/aws/codebuild/{PROJECT}", logStreamName=stream)["events"]
    return build.metadata["buildStatus"], [event["message"] for event in events]


def test_a_build_of_its_own_image_runs_in_it_with_docker_when_an_engine_answers(
    codebuild: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_docker(tmp_path, monkeypatch)

    status, lines = build_with(codebuild, OWN_IMAGE, 'echo "abc=$abc key=$API_KEY src=$CODEBUILD_SRC_DIR"; pwd')

    assert status == "SUCCEEDED"
    assert lines[0] == f"[hookrun] local build: runs in image {OWN_IMAGE} with Docker"
    assert "abc=456 key=*** src=/codebuild/output/src" in lines
    (run,) = [call for call in recorded_calls(calls) if call["args"][0] == "run"]
    args = run["args"]
    assert args[:3] == ["run", "--rm", "--name"] and "--privileged" not in args
    mount = args[args.index("-v") + 1]
    assert mount.endswith(":/codebuild/output/src") and args[args.index("-w") + 1] == "/codebuild/output/src"
    assert lines[2] == mount.split(":")[0]  # the command ran in the mounted build directory
    assert args[args.index("--entrypoint") + 1 : args.index("--entrypoint") + 3] == ["bash", OWN_IMAGE]
    named = {args[i + 1] for i, arg in enumerate(args) if arg == "-e"}
    assert {"abc", "API_KEY", "CODEBUILD_BUILD_ID"} <= named and not {"PATH", "HOME"} & named
    assert SECRET not in json.dumps(args)  # values reach docker through its environment, not its command line
    assert run["env"]["API_KEY"] == SECRET


def test_a_privileged_build_runs_in_a_privileged_container(
    codebuild: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_docker(tmp_path, monkeypatch)

    status, lines = build_with(codebuild, OWN_IMAGE, "exit 3", privileged=True)

    assert status == "FAILED"
    assert lines[0] == f"[hookrun] local build: runs in image {OWN_IMAGE} with Docker (privileged)"
    assert "[Container] Command did not exit successfully: exit status 3" in lines
    (run,) = [call["args"] for call in recorded_calls(calls) if call["args"][0] == "run"]
    assert "--privileged" in run


def test_a_build_runs_on_the_host_shell_when_no_docker_engine_answers(
    codebuild: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_docker(tmp_path, monkeypatch, info_exit=1)

    status, lines = build_with(codebuild, OWN_IMAGE, 'echo "abc=$abc"')

    assert status == "SUCCEEDED"
    assert lines[0] == (
        f"[hookrun] local build: runs on this host's shell, not in image {OWN_IMAGE} "
        "(no Docker engine answers `docker info`)"
    )
    assert "abc=456" in lines
    assert [call["args"][0] for call in recorded_calls(calls)] == ["info"]


def test_a_build_of_codebuilds_own_image_runs_on_the_host_shell_without_asking_docker(
    codebuild: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_docker(tmp_path, monkeypatch)
    image = "aws/codebuild/amazonlinux-x86_64-standard:5.0"

    status, lines = build_with(codebuild, image, "true")

    assert status == "SUCCEEDED"
    assert lines[0] == (
        f"[hookrun] local build: runs on this host's shell, not in image {image} "
        "(CodeBuild's own image: name one of yours)"
    )
    assert list(recorded_calls(calls)) == []
