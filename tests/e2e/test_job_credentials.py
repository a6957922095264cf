"""A job's script holds nothing worth stealing (issue 10 point 3): another user's jobs, a lambda one and a codebuild
one, try every credential and endpoint they can find to read a running victim's secrets and to grant themselves
its pipeline, and fail; the records are unchanged."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import RunningStack, moto_client, wait_for_run
from tests.e2e.test_runs import ADMIN, job, post

SECRET = "victim-" + uuid.uuid4().hex
ATTACK = (Path(__file__).with_name("attack_script.py")).read_text(encoding="utf-8")
ACTIONS = ("GetItem", "PutItem", "GetSecretValue")


def as_user(user: str) -> dict[str, str]:
    return {"X-Hookrun-User": user}


def create(stack: RunningStack, user: str, definition: dict[str, Any]) -> str:
    """Create a pipeline as `user` and enable its webhook: the URL."""
    pipeline_id = definition["id"]
    api = f"{stack.endpoint}/api/pipelines/{pipeline_id}"
    created = requests.put(api, json=definition, headers=as_user(user), timeout=30)
    assert created.status_code == 201, created.text
    enabled = requests.post(f"{api}/webhook/enable", headers=as_user(user), timeout=30)
    assert enabled.status_code == 201, enabled.text
    return str(enabled.json()["url"])


def grants(dynamodb: Any, table: str, pipeline_id: str) -> list[dict[str, Any]]:
    return list(
        dynamodb.query(
            TableName=table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :grant)",
            ExpressionAttributeValues={":pk": {"S": f"PIPELINE#{pipeline_id}"}, ":grant": {"S": "GRANT#"}},
        )["Items"]
    )


def build_secret_of(secrets: Any, run_id: str) -> str:
    """The name of the victim's build secret, once its build has started."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        names = [s["Name"] for s in secrets.list_secrets()["SecretList"] if f"/runs/{run_id}/" in s["Name"]]
        if names:
            return str(names[0])
        time.sleep(0.5)
    raise AssertionError("the victim's build never started")


def test_another_users_jobs_cannot_read_a_runs_secrets_or_grant_themselves_its_pipeline(
    local_stack: RunningStack,
) -> None:
    dynamodb, info = moto_client(local_stack, "dynamodb")
    secrets, _ = moto_client(local_stack, "secretsmanager")
    table = info["tableName"]
    victim_id = f"victim-{uuid.uuid4().hex[:8]}"
    victim = {
        "id": victim_id,
        "name": "victim",
        "variables": {"API_KEY": {"type": "string", "secret": True}},
        "stages": [{"name": "s", "jobs": [{"name": "hold", "runner": "codebuild", "script": ["sleep 120"]}]}],
    }
    victim_url = create(local_stack, "admin", victim)
    started = post(victim_url, {"API_KEY": SECRET})
    assert started.status_code == 202, started.text
    victim_run = started.json()["runId"]
    secret_id = build_secret_of(secrets, victim_run)
    secrets_key = {"pk": {"S": f"RUN#{victim_run}"}, "sk": {"S": "SECRETS"}}
    secrets_item = dynamodb.get_item(TableName=table, Key=secrets_key)["Item"]
    assert SECRET in json.dumps(secrets_item)  # the item the attack is after exists while it runs
    build_secret = secrets.get_secret_value(SecretId=secret_id)["SecretString"]
    assert SECRET in build_secret
    victim_grants = grants(dynamodb, table, victim_id)

    attacker = f"mallory{uuid.uuid4().hex[:6]}"
    made = requests.put(
        f"{local_stack.endpoint}/api/users/{attacker}", json={"status": "active"}, headers=ADMIN, timeout=30
    )
    assert made.status_code == 201, made.text
    script = ["python3 - <<'ATTACK'", *ATTACK.splitlines(), "ATTACK"]
    knowledge = {
        "GATEWAY": local_stack.endpoint,
        "VICTIM_RUN": victim_run,
        "VICTIM_PIPELINE": victim_id,
        "SECRET_ID": secret_id,
        "ATTACKER": attacker,
    }
    attack = {
        "id": f"attack-{uuid.uuid4().hex[:8]}",
        "name": "attack",
        "variables": knowledge,
        "stages": [
            {
                "name": "s",
                "jobs": [
                    {"name": "on-lambda", "script": script, "timeoutSeconds": 300},
                    {"name": "on-codebuild", "runner": "codebuild", "script": script},
                ],
            }
        ],
    }
    attack_url = create(local_stack, attacker, attack)
    response = post(attack_url)
    assert response.status_code == 202, response.text
    run = wait_for_run(local_stack.endpoint, response.json()["runId"], user=attacker, timeout=300)
    try:
        for name in ("on-lambda", "on-codebuild"):
            output = job(run, "s", name)["output"]
            attempts = [line for line in output.splitlines() if line.startswith("ATTEMPT ")]
            allowed = [line for line in attempts if ": ALLOWED " in line]
            assert allowed == [], f"{name}: {allowed}\n{output}"
            # not vacuous: it reached moto and the gateway, and each way in was tried and refused
            for label in ("none", "testing"):
                for action in ACTIONS:
                    assert any(line.startswith(f"ATTEMPT {label} http") and f" {action}: REFUSED" in line
                               for line in attempts), f"{name}: {label} {action} not tried\n{output}"  # fmt: skip
            assert any(" PutMember: REFUSED" in line for line in attempts), output
            assert SECRET not in output
    finally:
        requests.post(f"{local_stack.endpoint}/api/runs/{victim_run}/cancel", headers=ADMIN, timeout=30)
    assert SECRET not in json.dumps(run)
    assert dynamodb.get_item(TableName=table, Key=secrets_key)["Item"] == secrets_item
    assert grants(dynamodb, table, victim_id) == victim_grants
    members = requests.get(f"{local_stack.endpoint}/api/pipelines/{victim_id}/members", headers=ADMIN, timeout=30)
    assert attacker not in members.text
