"""The per-pipeline cap on runs not ended (`maxRunningRuns`) on the local stack: 429 beyond it, room once one ends."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from hookrun.local_events import RECONCILE_BOUND_SECONDS
from tests.e2e.conftest import RunningStack, moto_client, wait_for_run
from tests.e2e.test_run_control import cancel, run_of, until
from tests.e2e.test_runs import ADMIN, new_pipeline, post
from tests.support import processes_running


def one_job(script: list[str]) -> list[dict[str, Any]]:
    return [{"name": "s", "jobs": [{"name": "j", "script": script}]}]


def capped(stack: RunningStack, limit: int, script: list[str]) -> tuple[str, str]:
    """A pipeline of one job running `script`, with maxRunningRuns `limit`: (its id, its webhook URL)."""
    url = new_pipeline(stack, one_job(script), maxRunningRuns=limit, variables={"API_KEY": {"secret": True}})
    dry_run = requests.post(url, params={"dryRun": "true"}, json={}, timeout=30).json()
    return str(dry_run["pipelineId"]), url


def long_job() -> tuple[str, list[str]]:
    token = str(uuid.uuid4().int)[:12]
    return token, [f"sleep 120.{token}"]


def cancel_recorded(stack: RunningStack, run_id: str) -> None:
    # a run accepted but not recorded yet by its workflow cannot be cancelled (RUN_NOT_FOUND): wait for it
    until(lambda: run_of(stack, run_id)["status"] != "QUEUED", 30, f"{run_id} recorded")
    cancel(stack, run_id)


def end_all(stack: RunningStack, run_ids: list[str], token: str) -> None:
    for run_id in run_ids:
        cancel_recorded(stack, run_id)
    until(lambda: not processes_running(token), 30, "the jobs' processes are gone")


def test_the_third_webhook_at_a_limit_of_two_is_429_and_one_run_ending_makes_room(local_stack: RunningStack) -> None:
    token, script = long_job()
    pipeline_id, url = capped(local_stack, 2, script)
    started = [post(url) for _ in range(2)]
    run_ids = [answer.json()["runId"] for answer in started]
    try:
        until(lambda: all(run_of(local_stack, run_id)["status"] == "RUNNING" for run_id in run_ids), 30, "running")
        refused = post(url, {"API_KEY": "s3cr3t-value"})

        assert [answer.status_code for answer in started] == [202, 202]
        assert (refused.status_code, refused.json()["code"]) == (429, "RUN_LIMIT_REACHED"), refused.text
        assert refused.headers["Retry-After"] == "30" and refused.json()["maxRunningRuns"] == 2
        assert f"Pipeline '{pipeline_id}'" in refused.json()["message"] and "s3cr3t" not in refused.text
        deliveries = requests.get(
            f"{local_stack.endpoint}/api/pipelines/{pipeline_id}/deliveries", headers=ADMIN, timeout=30
        ).json()["deliveries"]
        assert (deliveries[0]["outcome"], deliveries[0]["reason"]) == ("REJECTED", "RUN_LIMIT_REACHED")

        assert cancel(local_stack, run_ids[0]).status_code == 202
        again = post(url)
        assert again.status_code == 202, again.text
        run_ids.append(again.json()["runId"])
    finally:
        end_all(local_stack, run_ids, token)


def test_ten_concurrent_webhooks_at_a_limit_of_three_start_exactly_three(local_stack: RunningStack) -> None:
    token, script = long_job()
    _, url = capped(local_stack, 3, script)

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: post(url), range(10)))

    accepted = [answer.json()["runId"] for answer in answers if answer.status_code == 202]
    try:
        assert sorted(answer.status_code for answer in answers) == [202] * 3 + [429] * 7
        assert {answer.json()["code"] for answer in answers if answer.status_code == 429} == {"RUN_LIMIT_REACHED"}
        stepfunctions, info = moto_client(local_stack, "stepfunctions")
        pages = stepfunctions.get_paginator("list_executions").paginate(stateMachineArn=info["stateMachineArn"])
        names = {execution["name"] for page in pages for execution in page["executions"]}
        assert len(names & set(accepted)) == 3
        until(lambda: all(run_of(local_stack, run_id)["status"] == "RUNNING" for run_id in accepted), 30, "running")
    finally:
        end_all(local_stack, accepted, token)


def stop_outside(stack: RunningStack, run_id: str) -> None:
    stepfunctions, info = moto_client(stack, "stepfunctions")
    arn = info["stateMachineArn"].replace(":stateMachine:", ":execution:") + f":{run_id}"
    stepfunctions.stop_execution(executionArn=arn, cause="stopped in the console")


ENDINGS: dict[str, tuple[list[str], Any]] = {
    "succeeded": (["echo done"], None),
    "failed": (["exit 3"], None),
    "stopped-outside-hookrun": (["sleep 120.{token}"], stop_outside),
    "cancelled": (["sleep 120.{token}"], cancel),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_a_run_that_ends_frees_its_slot_however_it_ends(local_stack: RunningStack, ending: str) -> None:
    token = str(uuid.uuid4().int)[:12]
    lines, end = ENDINGS[ending]
    _, url = capped(local_stack, 1, [line.format(token=token) for line in lines])
    first = post(url).json()["runId"]
    if end is not None:
        until(lambda: processes_running(token), 30, "the job started")
        assert post(url).status_code == 429
        end(local_stack, first)

    ended = wait_for_run(local_stack.endpoint, first, user="admin", timeout=RECONCILE_BOUND_SECONDS + 30)

    assert ended["status"] == {"succeeded": "SUCCEEDED", "cancelled": "CANCELLED"}.get(ending, "FAILED")
    second = post(url)
    assert second.status_code == 202, second.text
    if end is None:
        wait_for_run(local_stack.endpoint, second.json()["runId"], user="admin")
    else:
        end_all(local_stack, [second.json()["runId"]], token)


def test_a_run_started_by_hand_counts_and_is_refused_beyond_the_limit(local_stack: RunningStack) -> None:
    token, script = long_job()
    pipeline_id, url = capped(local_stack, 1, script)
    run_id = post(url).json()["runId"]
    try:
        by_hand = requests.post(
            f"{local_stack.endpoint}/api/pipelines/{pipeline_id}/runs", json={}, headers=ADMIN, timeout=30
        )
        assert (by_hand.status_code, by_hand.json()["code"]) == (429, "RUN_LIMIT_REACHED"), by_hand.text
        assert by_hand.headers["Retry-After"] == "30"
    finally:
        end_all(local_stack, [run_id], token)


def test_a_pipeline_deleted_and_applied_again_starts_with_no_slot_held(local_stack: RunningStack) -> None:
    token, script = long_job()
    pipeline_id, url = capped(local_stack, 1, script)
    old = post(url).json()["runId"]
    until(lambda: processes_running(token), 30, "the job started")
    definition = {"id": pipeline_id, "name": "made again", "stages": one_job(script), "maxRunningRuns": 1}
    try:
        assert requests.delete(
            f"{local_stack.endpoint}/api/pipelines/{pipeline_id}", headers=ADMIN, timeout=30
        ).status_code in {200, 204}
        assert (
            requests.put(
                f"{local_stack.endpoint}/api/pipelines/{pipeline_id}", json=definition, headers=ADMIN, timeout=30
            ).status_code
            == 201
        )
        enabled = requests.post(
            f"{local_stack.endpoint}/api/pipelines/{pipeline_id}/webhook/enable", headers=ADMIN, timeout=30
        ).json()
        again = post(enabled["url"])
        assert again.status_code == 202, again.text
        cancel_recorded(local_stack, again.json()["runId"])
    finally:
        stop_outside(local_stack, old)
        until(lambda: not processes_running(token), 30, "the jobs' processes are gone")
