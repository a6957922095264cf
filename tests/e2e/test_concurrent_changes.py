"""Concurrent changes to a webhook never undo each other: each is applied, or answered 409 CONFLICT."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
import requests

from domain.tokens import hash_token
from tests.e2e.conftest import RunningStack, moto_client
from tests.e2e.test_runs import ADMIN

ROUNDS = 10
ACKNOWLEDGED = {200, 201, 204}


@dataclass(frozen=True)
class State:
    """What a webhook is: enabled, its token, and the value of its signing secret (None: unsigned)."""

    enabled: bool
    token: str
    secret: str | None


@dataclass(frozen=True)
class Change:
    """One change: how to ask for it, and what it does to a state once acknowledged (with its answer)."""

    name: str
    method: str
    path: str
    apply: Callable[[State, dict[str, Any]], State]
    body: bool = False


CHANGES = {
    change.name: change
    for change in (
        Change("enable", "POST", "webhook/enable", lambda state, _: replace(state, enabled=True)),
        Change("disable", "POST", "webhook/disable", lambda state, _: replace(state, enabled=False)),
        Change("rotate", "POST", "webhook/rotate", lambda state, a: replace(state, token=a["url"].rsplit("/", 1)[1])),
        Change("secret", "PUT", "webhook/secret", lambda state, a: replace(state, secret=a["_sent"]), body=True),
        Change("unsign", "DELETE", "webhook/secret", lambda state, _: replace(state, secret=None)),
    )
}


def _ask(stack: RunningStack, pipeline_id: str, change: Change) -> tuple[int, dict[str, Any]]:
    url = f"{stack.endpoint}/api/pipelines/{pipeline_id}/{change.path}"
    secret = f"secret-{uuid.uuid4().hex}"
    response = requests.request(
        change.method, url, headers=ADMIN, json={"secret": secret} if change.body else None, timeout=60
    )
    answer = response.json() if response.content else {}
    return response.status_code, {**answer, "_sent": secret}


def _observed(stack: RunningStack, pipeline_id: str, token: str) -> State:
    """The webhook as stored, read from outside: the trigger item by the token's hash and its secret's value."""
    dynamodb, info = moto_client(stack, "dynamodb")
    secrets, _ = moto_client(stack, "secretsmanager")
    state = requests.get(f"{stack.endpoint}/api/pipelines/{pipeline_id}/webhook", headers=ADMIN, timeout=30).json()
    item = dynamodb.get_item(
        TableName=info["tableName"], Key={"pk": {"S": f"TRIGGER#{hash_token(token)}"}, "sk": {"S": "TRIGGER"}}
    ).get("Item")
    if item is None:
        return State(state["enabled"], "", None)
    name = item.get("signingSecret", {}).get("S")
    value = secrets.get_secret_value(SecretId=name)["SecretString"] if name else None
    assert state["signed"] is (value is not None)
    return State(item["enabled"]["BOOL"], token, value)


def _start(stack: RunningStack, pipeline_id: str, token: str) -> State:
    """Each round starts enabled and signed."""
    assert _ask(stack, pipeline_id, CHANGES["enable"])[0] in ACKNOWLEDGED
    status, answer = _ask(stack, pipeline_id, CHANGES["secret"])
    assert status == 200
    return State(True, token, answer["_sent"])


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(CHANGES, 2)))
def test_concurrent_webhook_changes_end_as_acknowledged(local_stack: RunningStack, first: str, second: str) -> None:
    pipeline_id = f"e2e-{uuid.uuid4().hex[:8]}"
    definition = {
        "id": pipeline_id,
        "name": "e2e",
        "stages": [{"name": "s", "jobs": [{"name": "j", "script": "true"}]}],
    }
    requests.put(f"{local_stack.endpoint}/api/pipelines/{pipeline_id}", json=definition, headers=ADMIN, timeout=30)
    status, enabled = _ask(local_stack, pipeline_id, CHANGES["enable"])
    assert status == 201
    token = enabled["url"].rsplit("/", 1)[1]
    for _ in range(ROUNDS):
        before = _start(local_stack, pipeline_id, token)
        answers: dict[str, tuple[int, dict[str, Any]]] = {}
        barrier = threading.Barrier(2)

        def change(name: str, barrier: threading.Barrier = barrier, answers: dict[str, Any] = answers) -> None:
            barrier.wait()
            answers[name] = _ask(local_stack, pipeline_id, CHANGES[name])

        threads = [threading.Thread(target=change, args=(name,)) for name in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert {status for status, _ in answers.values()} <= ACKNOWLEDGED | {409}, answers
        done = [name for name in (first, second) if answers[name][0] in ACKNOWLEDGED]
        possible = []
        for order in itertools.permutations(done):
            state = before
            for name in order:
                state = CHANGES[name].apply(state, answers[name][1])
            possible.append(state)
        token = next((s.token for s in possible if s.token != before.token), before.token)
        assert _observed(local_stack, pipeline_id, token) in possible, (answers, possible)
