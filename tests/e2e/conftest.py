"""The local stack (`hookrun dev`) in a subprocess, once per test session and xdist worker, reached over HTTP."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from hookrun.template import ROOT

E2E = Path(__file__).resolve().parent
HOOKRUN = Path(sys.executable).parent / "hookrun"
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30  # a hang detector, not a speed test: a loaded 2-core machine stops slowly
FINISHED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
ADMIN = "admin"  # the local stack's admin user


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.e2e)


@dataclass(frozen=True)
class RunningStack:
    """A `hookrun dev` process: where its API listens, the demo webhook's URL and token, and its output."""

    process: subprocess.Popen[bytes]
    endpoint: str
    webhook_url: str
    token: str
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")


def start_stack(directory: Path, data: Path | None = None, port: int = 0, extra: tuple[str, ...] = ()) -> RunningStack:
    """Start `hookrun dev` (on a free port unless `port` is given) and wait until it prints HOOKRUN_READY.

    Its data folder is `data`, or a new one in `directory` (never the checkout's .hookrun/).
    """
    stdout, stderr = directory / "stdout.log", directory / "stderr.log"
    data = data or directory / "data"
    command = [str(HOOKRUN), "dev", "--port", str(port), "--data", str(data), *extra]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        # output goes to files, not pipes: an undrained pipe would block the stack once its buffer fills
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        lines = stdout.read_text(errors="replace").splitlines()
        if "HOOKRUN_READY" in lines:
            values = dict(line.split("=", 1) for line in lines if line.startswith("HOOKRUN_") and "=" in line)
            url = values["HOOKRUN_WEBHOOK_URL"]
            return RunningStack(process, values["HOOKRUN_ENDPOINT"], url, url.rsplit("/", 1)[1], stdout, stderr)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    process.wait()
    output = stdout.read_text(errors="replace") + stderr.read_text(errors="replace")
    pytest.fail(f"hookrun dev was not ready within {READY_TIMEOUT_SECONDS} s:\n{output}")


def stop_stack(stack: RunningStack, signum: int = signal.SIGINT) -> int:
    """Stop the stack with `signum` (as Ctrl-C would), killing it if it does not exit in time; its exit code."""
    if stack.process.poll() is None:
        stack.process.send_signal(signum)
        try:
            return stack.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            stack.process.kill()
            stack.process.wait()
            pytest.fail(f"hookrun dev did not stop within {STOP_TIMEOUT_SECONDS} s of signal {signum}")
    return stack.process.returncode


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One local stack for the session (per xdist worker: each starts its own on its own port)."""
    stack = start_stack(tmp_path_factory.mktemp("local-stack"))
    yield stack
    exit_code = stop_stack(stack)
    assert exit_code == 0, f"hookrun dev exited with {exit_code} on Ctrl-C:\n{stack.output()}"


def wait_for_run(endpoint: str, run_id: str, user: str = "alice", timeout: float = 60) -> dict[str, Any]:
    """Poll GET /api/runs/{run_id} as `user` until the run has finished; its last JSON."""
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(f"{endpoint}/api/runs/{run_id}", headers={"X-Hookrun-User": user}, timeout=10)
        if response.status_code == 200 and response.json()["status"] in FINISHED:
            run: dict[str, Any] = response.json()
            return run
        if time.monotonic() > deadline:
            raise AssertionError(
                f"run {run_id} did not finish within {timeout} s: {response.status_code} {response.text}"
            )
        time.sleep(0.2)


def admin_call(endpoint: str, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
    """`method path` (JSON `body`) as the local stack's admin."""
    return requests.request(method, f"{endpoint}{path}", json=body, headers={"X-Hookrun-User": ADMIN}, timeout=30)


def delivery_log(endpoint: str, pipeline: str) -> list[dict[str, Any]]:
    """The newest 100 deliveries of `pipeline`, as the admin reads them."""
    response = admin_call(endpoint, "GET", f"/api/pipelines/{pipeline}/deliveries?limit=100")
    assert response.status_code == 200, response.text
    deliveries: list[dict[str, Any]] = response.json()["deliveries"]
    return deliveries


def moto_client(stack: RunningStack, service: str) -> tuple[Any, dict[str, Any]]:
    """A boto3 client of the stack's moto server, with what `/_hookrun/local` says about its resources."""
    info: dict[str, Any] = requests.get(f"{stack.endpoint}/_hookrun/local", timeout=10).json()
    client = boto3.client(
        service,
        endpoint_url=info["motoEndpoint"],
        region_name=info["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return client, info
