"""Codebuild jobs: the build a job asks for (buildspec and overrides), and what its log says about how it ended.

The buildspec runs the job's script with `bash -e -o pipefail` under coreutils' `timeout`, after a shallow,
detached checkout of the run's commit when the job checks out. It ends its log with marker lines that the recorder
reads: `[hookrun] exit code N`, or `[hookrun] CHECKOUT_FAILED: <git's message>`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .models import DEFAULT_BUILD_IMAGE, DEFAULT_COMPUTE_TYPE, CheckoutSource, Job, Model, is_reserved_name

EXIT_MARKER = "[hookrun] exit code "
CHECKOUT_FAILED = "CHECKOUT_FAILED"
CHECKOUT_MARKER = f"[hookrun] {CHECKOUT_FAILED}: "
TIMED_OUT_EXIT_CODE = 124  # coreutils' timeout
GIT_TOKEN_VARIABLE = "HOOKRUN_GIT_TOKEN"  # noqa: S105  # nosec B105 # the name of the variable, not a token
# CodeBuild's own timeout stops a job whose script outlives `timeout` (a process that ignores its signals)
BUILD_TIMEOUT_MARGIN_MINUTES = 5
MIN_BUILD_TIMEOUT_MINUTES = 5
_RESERVED_BY_CODEBUILD = "CODEBUILD_"
# set per job in its buildspec, whose `env` CodeBuild ranks below StartBuild's environment: never sent with it
_JOB_VARIABLES = frozenset({"HOOKRUN_STAGE", "HOOKRUN_JOB", "HOOKRUN_REPOSITORY_URL", "HOOKRUN_DEFAULT_BRANCH"})
_EXIT_LINE = re.compile(r"^\[hookrun\] exit code (\d+)\s*$", re.MULTILINE)

# Checkout in bash: exactly the run's commit when it has one, else the default branch's head; git's message on
# failure. The token (if any) goes in a header for git alone and is unset before the script runs.
_CHECKOUT = r"""hookrun_checkout() {
  set -e
  git init -q .
  git remote add origin "$HOOKRUN_REPOSITORY_URL"
  set -- -c protocol.version=2
  if [ -n "${HOOKRUN_GIT_TOKEN:-}" ]; then
    hookrun_basic=$(printf 'x-access-token:%s' "$HOOKRUN_GIT_TOKEN" | base64 | tr -d '\n')
    set -- "$@" -c "http.extraHeader=Authorization: Basic $hookrun_basic"
  fi
  if [ -n "${HOOKRUN_COMMIT_SHA:-}" ]; then
    git "$@" fetch -q --no-tags --depth 1 origin "$HOOKRUN_COMMIT_SHA"
  else
    git "$@" fetch -q --no-tags --depth 1 origin "refs/heads/$HOOKRUN_DEFAULT_BRANCH"
  fi
  git -c advice.detachedHead=false checkout -q --detach FETCH_HEAD
}
if ! hookrun_git=$(hookrun_checkout 2>&1); then
  unset HOOKRUN_GIT_TOKEN
  echo "[hookrun] CHECKOUT_FAILED: $(printf '%s' "$hookrun_git" | tr '\n' ' ')"
  exit 97
fi
unset HOOKRUN_GIT_TOKEN hookrun_git
HOOKRUN_COMMIT_SHA=$(git rev-parse HEAD)
export HOOKRUN_COMMIT_SHA
echo "[hookrun] checked out $HOOKRUN_COMMIT_SHA"
"""

_RUN = """hookrun_script=$(mktemp)
cat > "$hookrun_script" <<'{delimiter}'
{script}
{delimiter}
set +e
timeout -k 10 {timeout} bash --noprofile --norc -e -o pipefail "$hookrun_script"
hookrun_code=$?
rm -f "$hookrun_script"
echo "[hookrun] exit code $hookrun_code"
exit $hookrun_code
"""


class BuildOverrides(Model):
    """What the workflow's StartBuild state passes to CodeBuild for one job, beside the run's environment
    (`build_environment`, the same for every build of a run). No secret values: the job's secrets are named in
    its buildspec as Secrets Manager references, which CodeBuild resolves itself."""

    buildspec: str
    image: str
    compute_type: str
    privileged: bool
    timeout_in_minutes: int


def build_environment(environment: Mapping[str, str], secret_names: Iterable[str]) -> tuple[dict[str, str], ...]:
    """The run's public environment as every build of the run is started with (PLAINTEXT, as Step Functions
    passes it: Name, Value, Type). A secret's name is never sent as plain text (a caller could name a variable
    like a secret or the source token); neither are names CodeBuild or the shell reserve."""
    hidden = {*secret_names, GIT_TOKEN_VARIABLE, *_JOB_VARIABLES}
    return tuple(
        {"Name": name, "Value": value, "Type": "PLAINTEXT"}
        for name, value in sorted(environment.items())
        if _fits_codebuild(name) and name not in hidden
    )


def build_overrides(
    job: Job,
    job_variables: Mapping[str, str],
    secret_references: Mapping[str, str],
    checkout: CheckoutSource | None,
) -> BuildOverrides:
    """The overrides of one job's build: its buildspec, image, compute, timeout.

    `job_variables` are the job's own public variables (its stage and name), `secret_references` map each secret
    name to its `secret-id:json-key` reference: both go in the buildspec's `env`, so that the environment passed
    with StartBuild stays the run's, one copy per stage whatever its number of jobs.
    """
    checks_out = checkout is not None and job.checks_out(checkout.repository)
    variables = {name: value for name, value in job_variables.items() if _fits_codebuild(name)}
    if checks_out and checkout is not None:
        variables |= {"HOOKRUN_REPOSITORY_URL": checkout.repository, "HOOKRUN_DEFAULT_BRANCH": checkout.default_branch}
    secrets = {name: reference for name, reference in secret_references.items() if _fits_codebuild(name)}
    return BuildOverrides(
        buildspec=buildspec(job, checks_out=checks_out, variables=variables, secrets=secrets),
        image=job.image or DEFAULT_BUILD_IMAGE,
        compute_type=job.compute_type or DEFAULT_COMPUTE_TYPE,
        privileged=bool(job.privileged),
        timeout_in_minutes=max(
            MIN_BUILD_TIMEOUT_MINUTES, math.ceil(job.timeout_seconds / 60) + BUILD_TIMEOUT_MARGIN_MINUTES
        ),
    )


def buildspec(
    job: Job,
    *,
    checks_out: bool,
    variables: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> str:
    """The job's buildspec (JSON, which is YAML): its own variables and secret references in `env`, and one bash
    command that checks out, then runs the script."""
    script = "\n".join(job.script)
    delimiter = "HOOKRUN_SCRIPT_" + hashlib.sha256(script.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    command = (_CHECKOUT if checks_out else "") + _RUN.format(
        delimiter=delimiter, script=script, timeout=job.timeout_seconds
    )
    env: dict[str, object] = {"shell": "bash"}
    if variables:
        env["variables"] = dict(sorted(variables.items()))
    if secrets:
        env["secrets-manager"] = dict(sorted(secrets.items()))
    spec = {"version": "0.2", "env": env, "phases": {"build": {"commands": [command]}}}
    return json.dumps(spec, indent=1)


def _fits_codebuild(name: str) -> bool:
    return not is_reserved_name(name) and not name.upper().startswith(_RESERVED_BY_CODEBUILD)


@dataclass(frozen=True)
class BuildOutcome:
    """How a finished build went, as CodeBuild and its log tell it."""

    build_status: str  # CodeBuild's: SUCCEEDED, FAILED, FAULT, TIMED_OUT, STOPPED, IN_PROGRESS
    output: str  # the log's tail
    dropped_bytes: int
    duration_ms: int | None


def read_outcome(outcome: BuildOutcome, timeout_seconds: int) -> tuple[bool, int | None, str | None]:
    """(succeeded, exit code, reason) of a finished build, from its status and its log's marker lines."""
    codes = _EXIT_LINE.findall(outcome.output)
    exit_code = int(codes[-1]) if codes else None
    if outcome.build_status == "SUCCEEDED":
        return True, exit_code if exit_code is not None else 0, None
    checkout = outcome.output.rfind(CHECKOUT_MARKER)
    if checkout >= 0:
        message = (outcome.output[checkout + len(CHECKOUT_MARKER) :].splitlines() or [""])[0].strip()
        return False, None, f"{CHECKOUT_FAILED}: {message[:500]}"
    if exit_code == TIMED_OUT_EXIT_CODE or outcome.build_status == "TIMED_OUT":
        return False, exit_code, f"timed out after {timeout_seconds} s"
    if exit_code is not None:
        return False, exit_code, f"exited with code {exit_code}"
    return False, None, f"the build ended {outcome.build_status}"
