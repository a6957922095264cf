"""Codebuild jobs end to end on the local stack: builds run on the host shell, their logs in moto's CloudWatch."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.e2e.conftest import RunningStack, moto_client, wait_for_run
from tests.e2e.test_runs import ADMIN, job, post
from tests.support import load_event

SECRET = "s3cr3t-" + uuid.uuid4().hex


def codebuild_job(name: str, script: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "runner": "codebuild", "script": script, **extra}


def apply(stack: RunningStack, stages: list[dict[str, Any]], **extra: Any) -> requests.Response:
    pipeline_id = f"cb-{uuid.uuid4().hex[:8]}"
    definition = {"id": pipeline_id, "name": "codebuild", "stages": stages, **extra}
    return requests.put(f"{stack.endpoint}/api/pipelines/{pipeline_id}", json=definition, headers=ADMIN, timeout=30)


def new_pipeline(stack: RunningStack, stages: list[dict[str, Any]], **extra: Any) -> tuple[str, str]:
    """Apply a pipeline as admin and enable its webhook: its id and URL."""
    created = apply(stack, stages, **extra)
    assert created.status_code == 201, created.text
    pipeline_id = created.json()["pipeline"]["id"]
    enabled = requests.post(f"{stack.endpoint}/api/pipelines/{pipeline_id}/webhook/enable", headers=ADMIN, timeout=30)
    assert enabled.status_code == 201, enabled.text
    return pipeline_id, str(enabled.json()["url"])


def run_of(stack: RunningStack, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = post(url, body)
    assert response.status_code == 202, response.text
    return wait_for_run(stack.endpoint, response.json()["runId"], user="admin", timeout=120)


def git(repository: Path, *arguments: str) -> str:
    command = ["git", "-C", str(repository), "-c", "user.name=t", "-c", "user.email=t@example.com", *arguments]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def two_commits() -> Iterator[tuple[Path, list[str]]]:
    """A repository whose two commits on main differ in VERSION; the repository and the SHAs, oldest first.
    Outside pytest's own (private) folder: a local build runs as `nobody` when the tests run as root."""
    folder = Path(tempfile.mkdtemp(prefix="hookrun-e2e-repo-"))
    folder.chmod(0o755)
    repository = folder / "hello"
    repository.mkdir()
    git(repository, "init", "-q", "-b", "main")
    shas = []
    for version in ("1.0.0", "2.0.0"):
        (repository / "VERSION").write_text(version + "\n")
        git(repository, "add", "VERSION")
        git(repository, "commit", "-q", "-m", f"version {version}")
        shas.append(git(repository, "rev-parse", "HEAD"))
    yield repository, shas
    shutil.rmtree(folder, ignore_errors=True)


def github_push(url: str, clone_url: str, sha: str) -> requests.Response:
    """A GitHub push of `sha` to main of the repository at `clone_url` (the sample delivery of events/, retargeted)."""
    payload = json.loads(load_event("source-github-push.json")["body"])
    payload.update({"ref": "refs/heads/main", "after": sha, "deleted": False})
    payload["head_commit"] = {**payload["head_commit"], "id": sha}
    repository = {key: value for key, value in payload["repository"].items() if not key.endswith("url")}
    payload["repository"] = {**repository, "full_name": "local/hello", "clone_url": clone_url}
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4())}
    return requests.post(url, data=json.dumps(payload), headers=headers, timeout=60)


def after_checkout(output: str, sha: str) -> list[str]:
    lines = output.splitlines()
    return lines[lines.index(f"[hookrun] checked out {sha}") + 1 :]


def test_a_codebuild_job_runs_its_script_with_the_runs_variables(local_stack: RunningStack) -> None:
    stages = [{"name": "build", "jobs": [codebuild_job("hello", ['echo "abc is $abc"'])]}]
    _, url = new_pipeline(local_stack, stages, variables={"abc": "123"})
    run = run_of(local_stack, url, {"abc": "456"})
    hello = job(run, "build", "hello")
    assert (run["status"], hello["status"], hello["exitCode"]) == ("SUCCEEDED", "SUCCEEDED", 0), hello
    lines = hello["output"].splitlines()
    assert lines[0].startswith("[hookrun] local build: runs on this host's shell, not in image aws/codebuild/")
    assert "abc is 456" in lines and hello["durationMs"] is not None


def test_each_push_checks_out_exactly_its_commit(
    local_stack: RunningStack, two_commits: tuple[Path, list[str]]
) -> None:
    repository, shas = two_commits
    stages = [{"name": "build", "jobs": [codebuild_job("show", ["git rev-parse HEAD", "cat VERSION"])]}]
    _, url = new_pipeline(local_stack, stages, source={"repository": str(repository), "branches": ["main"]})
    for sha, version in zip(shas, ("1.0.0", "2.0.0"), strict=True):
        response = github_push(url, f"file://{repository}", sha)
        assert response.status_code == 202, response.text
        run = wait_for_run(local_stack.endpoint, response.json()["runId"], user="admin", timeout=120)
        show = job(run, "build", "show")
        assert (run["status"], show["status"]) == ("SUCCEEDED", "SUCCEEDED"), show
        assert after_checkout(show["output"], sha)[:2] == [sha, version]


def test_a_general_webhook_checks_out_the_default_branch_and_names_its_sha(
    local_stack: RunningStack, two_commits: tuple[Path, list[str]]
) -> None:
    repository, shas = two_commits
    stages = [{"name": "build", "jobs": [codebuild_job("show", ['echo "sha=$HOOKRUN_COMMIT_SHA"', "cat VERSION"])]}]
    _, url = new_pipeline(local_stack, stages, source={"repository": f"file://{repository}", "defaultBranch": "main"})
    show = job(run_of(local_stack, url), "build", "show")
    assert after_checkout(show["output"], shas[1])[:2] == [f"sha={shas[1]}", "2.0.0"], show


def test_a_push_from_another_repository_starts_nothing(
    local_stack: RunningStack, two_commits: tuple[Path, list[str]]
) -> None:
    repository, shas = two_commits
    stages = [{"name": "build", "jobs": [codebuild_job("show", ["cat VERSION"])]}]
    pipeline_id, url = new_pipeline(local_stack, stages, source={"repository": str(repository)})
    response = github_push(url, "https://github.com/octo/other.git", shas[0])
    assert response.status_code == 200, response.text
    assert (response.json()["triggered"], response.json()["reason"]) == (False, "REPOSITORY_MISMATCH")
    answer = requests.get(f"{local_stack.endpoint}/api/pipelines/{pipeline_id}/deliveries", headers=ADMIN, timeout=30)
    deliveries = [(d["outcome"], d.get("reason"), d.get("runId")) for d in answer.json()["deliveries"]]
    assert deliveries == [("FILTERED", "REPOSITORY_MISMATCH", None)]


def test_a_checkout_that_fails_fails_the_job_with_gits_message(local_stack: RunningStack, tmp_path: Path) -> None:
    stages = [{"name": "build", "jobs": [codebuild_job("show", ["echo never"])]}]
    _, url = new_pipeline(local_stack, stages, source={"repository": str(tmp_path / "missing")})
    run = run_of(local_stack, url)
    show = job(run, "build", "show")
    assert (run["status"], show["status"]) == ("FAILED", "FAILED")
    assert show["reason"].startswith("CHECKOUT_FAILED: ") and "missing" in show["reason"], show["reason"]
    assert "never" not in show["output"]


def test_a_lambda_job_asking_for_a_checkout_is_refused_when_applied(local_stack: RunningStack) -> None:
    stages = [{"name": "build", "jobs": [{"name": "quick", "script": ["true"], "checkout": True}]}]
    refused = apply(local_stack, stages, source={"repository": "https://github.com/octo/hello"})
    assert (refused.status_code, refused.json()["code"]) == (422, "INVALID_PIPELINE")
    assert "job 'quick' runs on lambda, which has no git" in refused.text


def test_a_codebuild_job_may_take_an_hour_a_lambda_job_may_not(local_stack: RunningStack) -> None:
    assert apply(local_stack, [{"name": "s", "jobs": [codebuild_job("long", ["true"], timeoutSeconds=3600)]}]).ok
    refused = apply(
        local_stack, [{"name": "s", "jobs": [{"name": "long", "script": ["true"], "timeoutSeconds": 3600}]}]
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "INVALID_PIPELINE")
    assert "job 'long' runs on lambda" in refused.text


def test_a_codebuild_job_over_its_timeout_fails_with_the_reason(local_stack: RunningStack) -> None:
    stages = [{"name": "s", "jobs": [codebuild_job("slow", ["echo begin", "sleep 60"], timeoutSeconds=2)]}]
    _, url = new_pipeline(local_stack, stages)
    run = run_of(local_stack, url)
    slow = job(run, "s", "slow")
    assert (run["status"], slow["status"], slow["reason"]) == ("FAILED", "FAILED", "timed out after 2 s")
    assert "begin" in slow["output"].splitlines()


def test_a_failing_codebuild_job_fails_its_stage_and_skips_the_next(local_stack: RunningStack) -> None:
    stages = [
        {"name": "test", "jobs": [codebuild_job("broken", ["echo checking", "exit 7"])]},
        {"name": "deploy", "jobs": [codebuild_job("ship", ["echo shipped"])]},
    ]
    _, url = new_pipeline(local_stack, stages)
    run = run_of(local_stack, url)
    broken = job(run, "test", "broken")
    assert [s["status"] for s in run["stages"]] == ["FAILED", "SKIPPED"]
    assert (broken["status"], broken["exitCode"], broken["reason"]) == ("FAILED", 7, "exited with code 7")
    assert "checking" in broken["output"].splitlines()
    assert job(run, "deploy", "ship")["status"] == "SKIPPED"


def test_a_secret_echoed_by_a_build_shows_masked_and_is_in_no_history_or_build_record(
    local_stack: RunningStack,
) -> None:
    stages = [{"name": "s", "jobs": [codebuild_job("leak", ['echo "token=$API_KEY"'])]}]
    _, url = new_pipeline(local_stack, stages, variables={"API_KEY": {"type": "string", "secret": True}})
    run = run_of(local_stack, url, {"API_KEY": SECRET})
    leak = job(run, "s", "leak")
    assert leak["status"] == "SUCCEEDED" and "token=***" in leak["output"].splitlines(), leak
    sfn, info = moto_client(local_stack, "stepfunctions")
    arn = info["stateMachineArn"].replace(":stateMachine:", ":execution:") + f":{run['runId']}"
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert SECRET not in json.dumps(history, default=str)
    codebuild, _ = moto_client(local_stack, "codebuild")
    builds = codebuild.batch_get_builds(ids=codebuild.list_builds()["ids"])["builds"]
    assert SECRET not in json.dumps(builds, default=str)
    # a Secrets Manager reference in the build's buildspec, never a PLAINTEXT variable
    assert all(v["name"] != "API_KEY" for b in builds for v in b["environment"]["environmentVariables"])
    envs = [yaml.safe_load(b["source"]["buildspec"]).get("env") or {} for b in builds]
    references = [env["secrets-manager"]["API_KEY"] for env in envs if "API_KEY" in env.get("secrets-manager", {})]
    assert references and all(reference.endswith(":API_KEY") for reference in references)


def test_stored_credentials_reach_the_checkout_only_and_never_the_script_or_output(
    local_stack: RunningStack, two_commits: tuple[Path, list[str]]
) -> None:
    repository, shas = two_commits
    script = ['echo "token=${HOOKRUN_GIT_TOKEN:-unset}"', "cat VERSION"]
    stages = [{"name": "build", "jobs": [codebuild_job("show", script)]}]
    source = {"repository": f"file://{repository}", "credentials": "gh"}
    pipeline_id, url = new_pipeline(local_stack, stages, source=source)
    stored = requests.put(
        f"{local_stack.endpoint}/api/pipelines/{pipeline_id}/credentials/gh",
        json={"token": SECRET},
        headers=ADMIN,
        timeout=30,
    )
    assert (stored.status_code, stored.text) == (204, "")
    run = run_of(local_stack, url)
    show = job(run, "build", "show")
    assert after_checkout(show["output"], shas[1])[:2] == ["token=unset", "2.0.0"], show
    assert SECRET not in json.dumps(run)
    removed = requests.delete(
        f"{local_stack.endpoint}/api/pipelines/{pipeline_id}/credentials/gh", headers=ADMIN, timeout=30
    )
    assert removed.status_code == 204
