"""CodeBuild on the local stack: the workflow's `codebuild:startBuild.sync` runs the build for real.

moto's Step Functions interpreter has no codebuild integration and moto's CodeBuild runs nothing. Here, a
startBuild.sync Task records the build in moto's CodeBuild (so BatchGetBuilds shows it), runs its buildspec's
commands in a subprocess: in the job's image with `docker run --rm` when the job names an image of its own and a
Docker engine answers `docker info`, else on the host's shell under the job supervisor (the log's first line says
which, and why), with the build's environment (Secrets Manager references resolved from moto, their values masked
in the log, as CodeBuild does), its timeout, and its output in moto's CloudWatch Logs. The Task ends as AWS's does:
with `{"Build": {...}}`, or States.TaskFailed whose Cause is the build.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess  # nosec B404 # runs the build's commands: the local CodeBuild's purpose
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import yaml
from moto.codebuild.models import CodeBuildBackend, codebuild_backends
from moto.logs.models import logs_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from adapters.shell import JobLimits, start_supervised
from hookrun.job_gate import job_uid

_PHASES: Final = ("install", "pre_build", "build", "post_build")
# the StartBuild parameters a local build honours
START_BUILD_PARAMETERS: Final = frozenset(
    {
        "ProjectName",
        "BuildspecOverride",
        "ImageOverride",
        "ComputeTypeOverride",
        "PrivilegedModeOverride",
        "TimeoutInMinutesOverride",
        "EnvironmentVariablesOverride",
    }
)
_PATH = "/usr/local/bin:/usr/bin:/bin"
# CodeBuild's curated images exist in CodeBuild alone: a job that names none of its own runs on the host's shell
CODEBUILD_IMAGES: Final = ("aws/codebuild/",)
CONTAINER_SRC_DIR: Final = "/codebuild/output/src"
DOCKER_INFO_SECONDS: Final = 15
# the host's settings a container does not take, and those the docker client itself reads
_HOST_ONLY: Final = frozenset({"PATH", "HOME", "TMPDIR", "GIT_CONFIG_GLOBAL"})
_DOCKER_CLIENT: Final = frozenset({"PATH", "HOME", "XDG_RUNTIME_DIR"})
_POLL_SECONDS = 0.2
_lock = threading.Lock()
_installed = False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class LocalBuild:
    """One build: its record in moto's CodeBuild and the process that runs it."""

    metadata: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    process: subprocess.Popen[bytes] | None = None
    stopped: bool = False


_builds: dict[str, LocalBuild] = {}


def start_build(account: str, region: str, parameters: dict[str, Any]) -> LocalBuild:
    """Record a build of `parameters["ProjectName"]` in moto and start running it; StartBuild's parameters."""
    backend: CodeBuildBackend = codebuild_backends[account][region]
    project_name = str(parameters["ProjectName"])
    project = backend.codebuild_projects[project_name].project_metadata
    metadata = backend.start_build(project_name)
    environment = dict(project.get("environment") or {})
    environment.update(
        {
            "image": parameters.get("ImageOverride", environment.get("image")),
            "computeType": parameters.get("ComputeTypeOverride", environment.get("computeType")),
            "privilegedMode": bool(parameters.get("PrivilegedModeOverride", environment.get("privilegedMode"))),
            "environmentVariables": [
                {"name": v["Name"], "value": v["Value"], "type": v.get("Type", "PLAINTEXT")}
                for v in parameters.get("EnvironmentVariablesOverride", [])
            ],
        }
    )
    group = ((project.get("logsConfig") or {}).get("cloudWatchLogs") or {}).get("groupName") or (
        f"/aws/codebuild/{project_name}"
    )
    stream = metadata["id"].split(":", 1)[1]
    timeout_minutes = int(parameters.get("TimeoutInMinutesOverride") or project.get("timeoutInMinutes") or 60)
    metadata.update(
        {
            "currentPhase": "BUILD",
            "environment": environment,
            "timeoutInMinutes": timeout_minutes,
            "source": {"type": "NO_SOURCE", "buildspec": parameters.get("BuildspecOverride", "")},
            "sourceVersion": None,
            "logs": {
                "groupName": group,
                "streamName": stream,
                "cloudWatchLogsArn": f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}",
                "cloudWatchLogs": {"status": "ENABLED", "groupName": group},
            },
        }
    )
    build = LocalBuild(metadata)
    _builds[metadata["id"]] = build
    logs = logs_backends[account][region]
    if group not in logs.groups:
        logs.create_log_group(group, {})
    logs.create_log_stream(group, stream)
    runner = threading.Thread(target=_run, args=(build, account, region), name=f"codebuild-{stream[:8]}", daemon=True)
    runner.start()
    return build


def _run(build: LocalBuild, account: str, region: str) -> None:
    metadata = build.metadata
    environment = metadata["environment"]
    workdir = tempfile.mkdtemp(prefix="hookrun-build-")
    job_user = job_uid()
    secrets = secretsmanager_backends[account][region]
    log = _LogWriter(account, region, metadata["logs"]["groupName"], metadata["logs"]["streamName"])
    image = str(environment.get("image"))
    docker, where = _where(image, privileged=bool(environment.get("privilegedMode")))
    log.write(f"[hookrun] local build: {where}\n")
    status = "FAILED"
    try:
        spec = _buildspec(metadata["source"]["buildspec"])
        # CodeBuild ranks StartBuild's environment above the buildspec's `env`
        declared = _buildspec_variables(spec) + list(environment["environmentVariables"])
        variables, masked = _variables(declared, secrets)
        log.masked = masked
        env = {
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            **variables,
            "PATH": _PATH,
            "HOME": workdir,
            "TMPDIR": workdir,
            "CODEBUILD_BUILD_ID": metadata["id"],
            "CODEBUILD_BUILD_ARN": metadata["arn"],
            "CODEBUILD_SRC_DIR": workdir,
            "CODEBUILD_BUILD_IMAGE": str(environment.get("image")),
            # the repositories on this host belong to the stack's user, not the build's (git reads this file only)
            **({"GIT_CONFIG_GLOBAL": _git_config(workdir)} if job_user is not None else {}),
        }
        commands = _commands(spec)
        deadline = time.monotonic() + 60 * int(metadata["timeoutInMinutes"])
        status = "SUCCEEDED"
        for command in commands:
            if docker is None:
                status = _run_command(build, command, env, workdir, deadline=deadline, log=log)
            else:
                container = _Container(docker, image, bool(environment.get("privilegedMode")), workdir)
                status = container.run(build, command, env, deadline=deadline, log=log)
            if status != "SUCCEEDED":
                break
    except (ValueError, KeyError, yaml.YAMLError) as exc:
        log.write(f"[hookrun] local build: cannot run the build: {exc}\n")
        status = "FAULT"
    finally:
        log.flush()
        shutil.rmtree(workdir, ignore_errors=True)
        Path(workdir + ".gitconfig").unlink(missing_ok=True)
        metadata.update(
            {
                "buildStatus": "STOPPED" if build.stopped else status,
                "currentPhase": "COMPLETED",
                "buildComplete": True,
                "endTime": _now(),
            }
        )
        build.done.set()


def _run_command(
    build: LocalBuild, command: str, env: dict[str, str], workdir: str, *, deadline: float, log: _LogWriter
) -> str:
    """Run one command under the job supervisor, as a lambda job's script runs: as `nobody` when the stack is root,
    confined by Landlock where the kernel has it, nothing of it left running after it."""
    bash = shutil.which("bash") or "/bin/bash"
    timeout_seconds = max(0.0, deadline - time.monotonic())
    process, result_read = start_supervised(
        [bash, "--noprofile", "--norc", "-c", command], workdir, env, timeout_seconds, JobLimits()
    )
    build.process = process
    reader = threading.Thread(target=_copy_lines, args=(process, log), daemon=True)
    reader.start()
    with os.fdopen(result_read, "rb") as results:
        verdict = json.loads(results.read() or b"{}")  # written when the supervisor ends; nothing if it was killed
    process.wait()
    reader.join(timeout=5)
    if verdict.get("timedOut", not build.stopped):
        log.write("[Container] Build timed out\n")
        return "TIMED_OUT"
    code = verdict.get("exitCode", -1)
    if code != 0:
        log.write(f"[Container] Command did not exit successfully: exit status {code}\n")
        return "FAILED"
    return "SUCCEEDED"


def _where(image: str, *, privileged: bool) -> tuple[str | None, str]:
    """The docker client that runs the build in its image, or None for the host's shell; and the log's first line."""
    if image.startswith(CODEBUILD_IMAGES):
        return None, f"runs on this host's shell, not in image {image} (CodeBuild's own image: name one of yours)"
    docker = docker_engine()
    if docker is None:
        return None, f"runs on this host's shell, not in image {image} (no Docker engine answers `docker info`)"
    return docker, f"runs in image {image} with Docker{' (privileged)' if privileged else ''}"


def docker_engine() -> str | None:
    """The docker client, if an engine answers it (`docker info` succeeds)."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    try:
        answered = subprocess.run(  # nosec B603 # a fixed argv
            [docker, "info"], capture_output=True, timeout=DOCKER_INFO_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return docker if answered.returncode == 0 else None


@dataclass
class _Container:
    """One command of a build run by `docker run --rm` in the job's image, the build's directory mounted."""

    docker: str
    image: str
    privileged: bool
    workdir: str

    def run(self, build: LocalBuild, command: str, env: dict[str, str], *, deadline: float, log: _LogWriter) -> str:
        name = f"hookrun-build-{uuid.uuid4().hex[:16]}"
        process = subprocess.Popen(  # nosec B603 # argv list, no shell=True; the command is the job's own
            self.argv(name, command, env),
            env=self.client_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        build.process = process
        reader = threading.Thread(target=_copy_lines, args=(process, log), daemon=True)
        reader.start()
        try:
            code = process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            code = None
        if code is None or build.stopped:
            self.kill(name)
            process.wait()
        reader.join(timeout=5)
        if code is None:
            log.write("[Container] Build timed out\n")
            return "TIMED_OUT"
        if code != 0:
            log.write(f"[Container] Command did not exit successfully: exit status {code}\n")
            return "FAILED"
        return "SUCCEEDED"

    def argv(self, name: str, command: str, env: dict[str, str]) -> list[str]:
        """Variables by name only (`-e NAME`): their values, secrets included, reach docker through its
        environment, never its command line."""
        argv = [self.docker, "run", "--rm", "--name", name, "-v", f"{self.workdir}:{CONTAINER_SRC_DIR}"]
        argv += ["-w", CONTAINER_SRC_DIR] + (["--privileged"] if self.privileged else [])
        repository = _local_repository(env.get("HOOKRUN_REPOSITORY_URL"))
        if repository is not None:  # a repository on this host is checked out from inside the container too
            argv += ["-v", f"{repository}:{repository}:ro"]
        argv += [part for variable in sorted(self.container_environment(env)) for part in ("-e", variable)]
        return [*argv, "--entrypoint", "bash", self.image, "--noprofile", "--norc", "-c", command]

    def container_environment(self, env: dict[str, str]) -> dict[str, str]:
        """The build's environment inside the image: the image keeps its own PATH and HOME."""
        inside = {name: value for name, value in env.items() if name not in _HOST_ONLY}
        # the mounted directory belongs to the stack's user, not the container's root
        safe = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"}
        return inside | safe | {"CODEBUILD_SRC_DIR": CONTAINER_SRC_DIR}

    def client_environment(self, env: dict[str, str]) -> dict[str, str]:
        """The docker client's own settings (how it reaches its engine) and the values of the build's variables."""
        client = {
            name: value for name, value in os.environ.items() if name in _DOCKER_CLIENT or name.startswith("DOCKER_")
        }
        return self.container_environment(env) | client  # a build's variable never steers the client

    def kill(self, name: str) -> None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(  # nosec B603 # a fixed argv
                [self.docker, "kill", name], capture_output=True, timeout=DOCKER_INFO_SECONDS, check=False
            )


def _local_repository(url: str | None) -> str | None:
    """The directory of a repository on this host (a path or a file:// URL), if the build checks one out."""
    if not url:
        return None
    path = url.removeprefix("file://") if url.startswith("file://") else url
    return path if path.startswith("/") and Path(path).exists() else None


def _git_config(workdir: str) -> str:
    """A global git configuration beside `workdir` that trusts every repository's owner."""
    path = Path(workdir + ".gitconfig")
    path.write_text("[safe]\n\tdirectory = *\n", encoding="utf-8")
    path.chmod(0o644)
    return str(path)


def _copy_lines(process: subprocess.Popen[bytes], log: _LogWriter) -> None:
    assert process.stdout is not None
    for line in iter(process.stdout.readline, b""):
        log.write(line.decode("utf-8", errors="replace"))


def _buildspec(text: str) -> dict[str, Any]:
    spec = yaml.safe_load(text) or {}
    if not isinstance(spec, dict):
        raise ValueError("the buildspec is not a mapping")
    return spec


def _buildspec_variables(spec: dict[str, Any]) -> list[dict[str, str]]:
    """The buildspec's `env.variables` (PLAINTEXT) and `env.secrets-manager` (references), as StartBuild's."""
    env = spec.get("env") or {}
    kinds = (("variables", "PLAINTEXT"), ("secrets-manager", "SECRETS_MANAGER"))
    return [
        {"name": str(name), "value": str(value), "type": kind}
        for key, kind in kinds
        for name, value in (env.get(key) or {}).items()
    ]


def _commands(spec: dict[str, Any]) -> list[str]:
    phases = spec.get("phases") or {}
    return [str(command) for phase in _PHASES for command in (phases.get(phase) or {}).get("commands") or []]


def _variables(declared: list[dict[str, str]], secrets: Any) -> tuple[dict[str, str], list[str]]:
    """The build's environment, Secrets Manager references resolved as CodeBuild does; and the values to mask."""
    variables: dict[str, str] = {}
    masked: list[str] = []
    for variable in declared:
        if variable["type"] == "SECRETS_MANAGER":
            value = _secret(secrets, variable["value"])
            masked.append(value)
        elif variable["type"] == "PLAINTEXT":
            value = variable["value"]
        else:
            raise ValueError(f"environment variables of type {variable['type']} are not supported locally")
        variables[variable["name"]] = value
    return variables, masked


def _secret(secrets: Any, reference: str) -> str:
    """`secret-id[:json-key]`, the secret id a name or an ARN (which has colons of its own)."""
    parts = reference.split(":")
    secret_id, rest = (":".join(parts[:7]), parts[7:]) if reference.startswith("arn:") else (parts[0], parts[1:])
    text = secrets.get_secret_value(secret_id, None, None)["SecretString"]
    if rest and rest[0]:
        return str(json.loads(text)[rest[0]])
    return str(text)


class _LogWriter:
    """Writes a build's output to its log stream in moto's CloudWatch Logs, secret values masked."""

    def __init__(self, account: str, region: str, group: str, stream: str) -> None:
        self._logs = logs_backends[account][region]
        self._group = group
        self._stream = stream
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self.masked: list[str] = []

    def write(self, line: str) -> None:
        for value in sorted({v for v in self.masked if v}, key=len, reverse=True):
            line = line.replace(value, "***")
        with self._lock:
            self._pending.append({"timestamp": int(time.time() * 1000), "message": line.rstrip("\n")})
            if len(self._pending) >= 100 or time.monotonic() - self._last_flush > 0.5:
                self._flush()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._logs.put_log_events(self._group, self._stream, self._pending)
            self._pending = []
        self._last_flush = time.monotonic()


def stop_build(build_id: str) -> None:
    build = _builds.get(build_id)
    if build is None or build.done.is_set():
        return
    build.stopped = True
    if build.process is not None and build.process.poll() is None:
        build.process.terminate()  # the supervisor stops the build's processes and ends


def _pascal(value: Any) -> Any:
    """A build as Step Functions' codebuild integration gives it: PascalCase keys."""
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: _pascal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_pascal(item) for item in value]
    return value


class StateTaskServiceLocalCodeBuild(StateTaskServiceCallback):
    """`arn:aws:states:::codebuild:startBuild[.sync]` run by the local CodeBuild."""

    def __init__(self) -> None:
        super().__init__(supported_integration_patterns={ResourceCondition.Sync})  # type: ignore[arg-type]

    def _get_supported_parameters(self) -> set[str] | None:
        return set(START_BUILD_PARAMETERS) if self.resource.api_action.lower() == "startbuild" else None

    def _eval_service_task(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> None:
        build = start_build(resource_runtime_part.account, resource_runtime_part.region, normalised_parameters)
        env.stack.append({"Build": _pascal(build.metadata)})

    def _eval_integration_pattern(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> None:
        """Wait for the build (moto's own sync loop assumes a callback endpoint that a .sync Task lacks)."""
        build = _builds[env.stack.pop()["Build"]["Id"]]
        while not build.done.wait(_POLL_SECONDS):
            if not env.is_running():
                stop_build(build.metadata["id"])
                return
        output = {"Build": _pascal(build.metadata)}
        if build.metadata["buildStatus"] == "SUCCEEDED":
            env.stack.append(output)
            return
        raise FailureEventException(
            FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]  # one kind of details, as moto's own
                    taskFailedEventDetails=TaskFailedEventDetails(
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                        error=StatesErrorNameType.StatesTaskFailed.to_name(),
                        cause=json.dumps(output, default=str),
                    )
                ),
            )
        )


def _batch_get_builds(self: CodeBuildBackend, ids: list[str]) -> list[dict[str, Any]]:
    """moto's BatchGetBuilds, telling the truth for local builds (moto's own says every build SUCCEEDED)."""
    return [_builds[build_id].metadata for build_id in ids if build_id in _builds] + [
        build for build in _original_batch_get_builds(self, [i for i in ids if i not in _builds])
    ]


_original_batch_get_builds = CodeBuildBackend.batch_get_builds
_original_service_for = state_task_factory.state_task_service_for  # type: ignore[attr-defined]


def _service_for(service_name: str) -> Any:
    if service_name == "codebuild":
        return StateTaskServiceLocalCodeBuild()
    return _original_service_for(service_name)


def install() -> None:
    """Route the interpreter's codebuild Tasks and moto's BatchGetBuilds to the local builds."""
    global _installed
    with _lock:
        if not _installed:
            state_task_factory.state_task_service_for = _service_for  # type: ignore[attr-defined]
            CodeBuildBackend.batch_get_builds = _batch_get_builds  # type: ignore[method-assign]
            _installed = True
