"""The sandbox pool: real worker processes running a small handler written for each test."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hookrun import sandbox
from hookrun.sandbox import FunctionPool, FunctionSpec, Invocation, Sandboxes, Throttled

HANDLER = """
import os, pathlib, subprocess, time
calls = 0

def handler(event, context):
    global calls
    calls += 1
    if "wait_for" in event:
        path, deadline = pathlib.Path(event["wait_for"]), time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    if "child" in event:
        child = subprocess.Popen(["sleep", "60"], start_new_session=True)
        pathlib.Path(event["child"]).write_text(str(child.pid))
        time.sleep(60)
    if "raise" in event:
        raise KeyError(event["raise"])
    return {"pid": os.getpid(), "calls": calls, "environment": dict(os.environ)}
"""
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAPROBE", "AWS_SECRET_ACCESS_KEY": "probe-secret", "AWS_SESSION_TOKEN": "t"}
BOUND_SECONDS = 30


def spec(code_root: Path, **overrides: Any) -> FunctionSpec:
    settings: dict[str, Any] = {
        "name": "probe",
        "handler": "worker.handler",
        "code_root": code_root,
        "timeout": 30.0,
        "variables": {"PROBE_VARIABLE": "probe-value"},
        **overrides,
    }
    return FunctionSpec(**settings)


@pytest.fixture
def code_root(tmp_path: Path) -> Path:
    (tmp_path / "worker.py").write_text(HANDLER, encoding="utf-8")
    return tmp_path


@pytest.fixture
def make_pool(code_root: Path) -> Iterator[Any]:
    made: list[Sandboxes] = []

    def make(**overrides: Any) -> FunctionPool:
        sandboxes = Sandboxes([spec(code_root, **overrides)], "eu-west-1", "http://127.0.0.1:9", lambda _: CREDENTIALS)
        made.append(sandboxes)
        return sandboxes.pools["probe"]

    yield make
    for sandboxes in made:
        sandboxes.close()


def call(pool: FunctionPool, event: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = pool.invoke(json.dumps(event or {}).encode())
    result: dict[str, Any] = json.loads(answer.payload)
    return result


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie that no one reaped does not count)."""
    status = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return bool(status.stdout.strip()) and not status.stdout.strip().startswith("Z")


def wait_until(condition: Any) -> None:
    deadline = time.monotonic() + BOUND_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.02)


def test_a_pool_starts_no_sandbox_until_it_is_invoked(make_pool: Any) -> None:
    pool = make_pool()
    assert pool.size == 0
    call(pool)
    assert pool.size == 1


def test_prewarming_starts_as_many_sandboxes_as_asked_within_the_function_s_limit(code_root: Path) -> None:
    sandboxes = Sandboxes(
        [spec(code_root), spec(code_root, name="capped", concurrency=2)],
        "eu-west-1",
        "http://127.0.0.1:9",
        lambda _: CREDENTIALS,
    )
    try:
        sandboxes.prewarm({"probe": 3, "capped": 5})

        assert (sandboxes.pools["probe"].size, sandboxes.pools["capped"].size) == (3, 2)
        wait_until(lambda: call(sandboxes.pools["probe"])["calls"] == 1)  # a warm sandbox, not a fourth one
        assert sandboxes.pools["probe"].size == 3
    finally:
        sandboxes.close()


def test_a_warm_sandbox_is_reused_with_its_module_state(make_pool: Any) -> None:
    pool = make_pool()
    first, second = call(pool), call(pool)
    assert first["pid"] == second["pid"]
    assert (first["calls"], second["calls"]) == (1, 2)


def test_at_its_limit_an_invocation_waits_for_a_free_sandbox(
    make_pool: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = make_pool(concurrency=2, grow_after=0.0)
    release = tmp_path / "release"
    answers: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: answers.append(call(pool, {"wait_for": str(release)}))) for _ in "abc"]
    for thread in threads:
        thread.start()
    wait_until(lambda: pool.busy == 2 and pool.waiting == 1)
    assert pool.size == 2
    release.touch()
    for thread in threads:
        thread.join(BOUND_SECONDS)
    assert len(answers) == 3
    assert len({answer["pid"] for answer in answers}) == 2


def test_at_its_limit_an_invocation_past_its_patience_is_throttled_and_leaves_the_queue(
    make_pool: Any, tmp_path: Path
) -> None:
    pool = make_pool(concurrency=1)
    release = tmp_path / "release"
    busy = threading.Thread(target=call, args=(pool, {"wait_for": str(release)}))
    busy.start()
    wait_until(lambda: pool.busy == 1)
    with pytest.raises(Throttled, match="Rate Exceeded"):
        pool.invoke(b"{}", patience=0.3)
    assert pool.waiting == 0
    release.touch()
    busy.join(BOUND_SECONDS)
    assert call(pool, {})["calls"] == 2  # the one sandbox serves the next invocation; the throttled one never ran


def test_an_invocation_that_gets_a_sandbox_within_its_patience_runs(make_pool: Any, tmp_path: Path) -> None:
    pool = make_pool(concurrency=1)
    release = tmp_path / "release"
    busy = threading.Thread(target=call, args=(pool, {"wait_for": str(release)}))
    busy.start()
    wait_until(lambda: pool.busy == 1)
    threading.Timer(0.2, release.touch).start()
    answer = json.loads(pool.invoke(b"{}", patience=BOUND_SECONDS).payload)
    busy.join(BOUND_SECONDS)
    assert answer["calls"] == 2


def test_a_sandbox_past_its_timeout_is_killed_with_what_it_started(make_pool: Any, tmp_path: Path) -> None:
    pool = make_pool(timeout=1.0)
    before = call(pool)
    child_pid_file = tmp_path / "child"
    answer = pool.invoke(json.dumps({"child": str(child_pid_file)}).encode())
    assert answer.function_error == "Unhandled"
    assert json.loads(answer.payload) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "Task timed out after 1.00 seconds",
        "stackTrace": [],
    }
    wait_until(lambda: not alive(int(child_pid_file.read_text())))
    assert not alive(before["pid"])
    after = call(pool)
    assert after["pid"] != before["pid"] and after["calls"] == 1


def test_killing_a_tag_ends_the_sandboxes_of_its_invocations_and_what_they_started_and_no_other(
    make_pool: Any, tmp_path: Path
) -> None:
    pool = make_pool()
    child_pid_file, release = tmp_path / "child", tmp_path / "release"
    answers: dict[str, Invocation] = {}

    def invoke(tag: str, event: dict[str, Any]) -> None:
        answers[tag] = pool.invoke(json.dumps(event).encode(), tag=tag)

    threads = [
        threading.Thread(target=invoke, args=("run-1", {"child": str(child_pid_file)})),
        threading.Thread(target=invoke, args=("run-2", {"wait_for": str(release)})),
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: child_pid_file.exists() and child_pid_file.read_text() and pool.busy == 2)

    assert pool.kill("run-1") == 1
    threads[0].join(BOUND_SECONDS)

    assert answers["run-1"].function_error == "Unhandled"
    assert json.loads(answers["run-1"].payload)["errorType"] == "Runtime.ExitError"
    wait_until(lambda: not alive(int(child_pid_file.read_text())))
    assert pool.kill("run-1") == 0
    release.touch()
    threads[1].join(BOUND_SECONDS)
    assert answers["run-2"].function_error is None
    assert pool.size == 1  # the killed sandbox is not reused


def test_a_sandbox_environment_is_built_from_scratch_with_the_function_s_credentials(
    make_pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOKRUN_UNIT_PARENT_ONLY", "parent")
    environment = call(make_pool())["environment"]
    assert "HOOKRUN_UNIT_PARENT_ONLY" not in environment
    assert CREDENTIALS.items() <= environment.items()
    assert environment["PROBE_VARIABLE"] == "probe-value"
    assert (environment["AWS_LAMBDA_FUNCTION_NAME"], environment["_HANDLER"]) == ("probe", "worker.handler")
    assert (environment["AWS_REGION"], environment["AWS_ENDPOINT_URL"]) == ("eu-west-1", "http://127.0.0.1:9")


def test_a_handler_exception_comes_back_as_lambda_reports_it(make_pool: Any) -> None:
    answer = make_pool().invoke(json.dumps({"raise": "missing"}).encode())
    error = json.loads(answer.payload)
    assert (answer.function_error, error["errorType"], error["errorMessage"]) == ("Unhandled", "KeyError", "'missing'")
    assert "worker.py" in error["stackTrace"][-1] and "sandbox_runtime" not in "".join(error["stackTrace"])


def test_an_unimportable_handler_answers_an_import_module_error(make_pool: Any) -> None:
    answer = make_pool(handler="nowhere.handler").invoke(b"{}")
    error = json.loads(answer.payload)
    assert (answer.function_error, error["errorType"]) == ("Unhandled", "Runtime.ImportModuleError")
    assert error["errorMessage"].startswith("Unable to import module 'nowhere'")


def test_closing_the_pool_kills_busy_sandboxes_and_refuses_new_invocations(make_pool: Any, tmp_path: Path) -> None:
    pool = make_pool()
    pid = call(pool)["pid"]
    answers: list[Invocation] = []
    thread = threading.Thread(target=lambda: answers.append(pool.invoke(b'{"wait_for": "/nonexistent/never"}')))
    thread.start()
    wait_until(lambda: pool.busy == 1)
    pool.close()
    thread.join(BOUND_SECONDS)
    assert json.loads(answers[0].payload)["errorType"] == "Runtime.ExitError"
    assert not alive(pid)
    with pytest.raises(sandbox.PoolClosed):
        pool.invoke(b"{}")
