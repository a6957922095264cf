"""The table's key layout, in one place.

One table, keys `pk`/`sk`, one index `gsi1` (`gsi1pk`/`gsi1sk`), TTL attribute `expiresAt`.

| access pattern                       | item / index                                             |
|--------------------------------------|----------------------------------------------------------|
| trigger by token hash (hot path)     | pk=TRIGGER#<sha256>          sk=TRIGGER                  |
| pipeline                             | pk=PIPELINE#<id>             sk=PIPELINE                 |
| grant by (pipeline, user)            | pk=PIPELINE#<id>             sk=GRANT#<user>             |
| members of a pipeline                | query pk=PIPELINE#<id>, sk begins_with GRANT#            |
| user                                 | pk=USER#<id>                 sk=USER                     |
| run with its stages and jobs         | query pk=RUN#<run>: sk=RUN, STAGE#<nn>, JOB#<nn>#<job>   |
| a run's secret values (job runner)   | pk=RUN#<run>                 sk=SECRETS (TTL)            |
| a run's request (stages, variables)  | pk=RUN#<run>#REQUEST         sk=REQUEST (TTL)            |
| a pipeline's secret defaults         | pk=PIPELINE#<id>             sk=SECRET_DEFAULTS          |
| deliveries of a pipeline, newest 1st | query pk=PIPELINE#<id>#DELIVERIES, sk=<receivedAt>#<n>   |
| runs of a pipeline, newest first     | gsi1: gsi1pk=PIPELINE#<id>#RUNS gsi1sk=<createdAt>#<run> |
| all pipelines                        | gsi1: gsi1pk=PIPELINES          gsi1sk=<id>              |
| pipelines a user holds a role on     | gsi1: gsi1pk=USER#<id>#GRANTS   gsi1sk=<pipeline id>     |
| user of an IAM principal (API auth)  | pk=PRINCIPAL#<arn>           sk=PRINCIPAL                |
| a concurrency group's lock           | pk=GROUP#<pipeline>#<group>  sk=LOCK                     |
| slots of a pipeline's runs not ended | pk=PIPELINE#<id>#<inc>#SLOTS sk=SLOTS                    |
| its waiting runs, oldest first       | pk=GROUP#<pipeline>#<group>  sk=WAIT#<createdAt>#<run>   |
| audit of a pipeline or user          | pk=PIPELINE#<id> or USER#<id>, sk=AUDIT#<at>#<n>         |

A pipeline's history (runs, deliveries, audit) is kept under its id and its incarnation, a random id made when the
pipeline is created: `PIPELINE#<id>#<incarnation>#RUNS`... A pipeline created again with a deleted one's id starts
with no history, and whatever the old one's runs still write goes where no one reads it. Items from before
incarnations (an empty one) keep the keys without it.
"""

from __future__ import annotations

from typing import Any

TTL_ATTRIBUTE = "expiresAt"
RUNS_INDEX = "gsi1"


Key = dict[str, Any]

TRIGGER, PIPELINE, USER, RUN, PRINCIPAL = "TRIGGER#", "PIPELINE#", "USER#", "RUN#", "PRINCIPAL#"  # pk prefixes
GRANT, STAGE, JOB, AUDIT = "GRANT#", "STAGE#", "JOB#", "AUDIT#"  # sk prefixes
RUN_SK, SECRETS_SK = "RUN", "SECRETS"


def key(pk: str, sk: str) -> Key:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def trigger_key(token_hash: str) -> Key:
    return key(TRIGGER + token_hash, "TRIGGER")


def pipeline_pk(pipeline_id: str) -> str:
    return PIPELINE + pipeline_id


def pipeline_key(pipeline_id: str) -> Key:
    return key(pipeline_pk(pipeline_id), "PIPELINE")


def secret_defaults_key(pipeline_id: str) -> Key:
    """The defaults of a pipeline's secret variables, kept apart from its definition (as a run's secrets are)."""
    return key(f"PIPELINE#{pipeline_id}", "SECRET_DEFAULTS")


def grant_key(pipeline_id: str, user_id: str) -> Key:
    return key(pipeline_pk(pipeline_id), GRANT + user_id)


def user_key(user_id: str) -> Key:
    return key(USER + user_id, "USER")


def run_pk(run_id: str) -> str:
    return RUN + run_id


def run_key(run_id: str) -> Key:
    return key(run_pk(run_id), RUN_SK)


def run_secrets_key(run_id: str) -> Key:
    return key(run_pk(run_id), SECRETS_SK)


def run_request_key(run_id: str) -> Key:
    """What a run was started with, read by the workflow: apart from the run's items, which viewers query."""
    return key(f"{run_pk(run_id)}#REQUEST", "REQUEST")


def stage_sk(stage_index: int) -> str:
    return f"{STAGE}{stage_index:02d}"


def job_sk(stage_index: int, job_name: str) -> str:
    return f"{JOB}{stage_index:02d}#{job_name}"


def _history(pipeline_id: str, incarnation: str) -> str:
    return f"{pipeline_pk(pipeline_id)}#{incarnation}" if incarnation else pipeline_pk(pipeline_id)


def runs_of_pipeline_pk(pipeline_id: str, incarnation: str) -> str:
    return f"{_history(pipeline_id, incarnation)}#RUNS"


ALL_PIPELINES = "PIPELINES"


def grants_of_user_pk(user_id: str) -> str:
    return f"{USER}{user_id}#GRANTS"


def principal_key(principal_arn: str) -> Key:
    return key(PRINCIPAL + principal_arn, "PRINCIPAL")


def audit_sk(at: str, suffix: str) -> str:
    return f"{AUDIT}{at}#{suffix}"


def subject_pk(subject: str, incarnation: str = "") -> str:
    """`pipeline/<id>` -> PIPELINE#<id>[#<incarnation>]; `user/<id>` -> USER#<id>: where its audit entries live."""
    kind, _, name = subject.partition("/")
    return _history(name, incarnation) if kind == "pipeline" else f"{kind.upper()}#{name}"


def deliveries_pk(pipeline_id: str, incarnation: str) -> str:
    """Deliveries of a pipeline: pk=PIPELINE#<id>[#<inc>]#DELIVERIES, sk=<receivedAt>#<n>, newest last (TTL 30 d)."""
    return f"{_history(pipeline_id, incarnation)}#DELIVERIES"


def run_slots_key(pipeline_id: str, incarnation: str) -> Key:
    """The slots of a pipeline's (incarnation's) runs that have not ended: a pipeline made again starts with none."""
    return key(f"{_history(pipeline_id, incarnation)}#SLOTS", "SLOTS")


def group_pk(group: str) -> str:
    """A concurrency group (`<pipeline>#<rendered group>`): its lock and its waiting runs."""
    return f"GROUP#{group}"
