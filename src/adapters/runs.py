"""The run record in DynamoDB: one partition per run (RUN, STAGE#nn, JOB#nn#name), guarded transitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from domain.models import RunRequest, RunStatus
from domain.ports import Field, Page
from domain.runs import JobView, RunView, StageView, statuses_that_may_move_to

from . import keys
from .aws_errors import unavailable_on_outage, written
from .dynamodb import DynamoTable
from .pages import newest_first_page

Item = dict[str, Any]
_BATCH_KEYS = 100  # BatchGetItem's limit
_BATCH_ROUNDS = 3  # asks for unprocessed keys again at most this often; statuses not read count as unknown


def _value(value: Field) -> dict[str, str]:
    return {"N": str(value)} if isinstance(value, int) else {"S": str(value)}


def _text(item: Item, name: str) -> str | None:
    value = item.get(name)
    return value["S"] if value else None


def _number(item: Item, name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if value else None


def _run_item(run: RunRequest, status: RunStatus, at: str, group: str | None = None) -> Item:
    return (
        {
            **keys.run_key(run.run_id),
            "type": {"S": "run"},
            "runId": {"S": run.run_id},
            "pipelineId": {"S": run.pipeline_id},
            "pipelineName": {"S": run.pipeline_name},
            "status": {"S": status},
            "variables": {"M": {name: {"S": value} for name, value in run.variables.items()}},
            "secretNames": {"L": [{"S": name} for name in run.secret_names]},
            "triggerKind": {"S": run.trigger_kind},
            "runAs": {"S": run.run_as},
            "createdAt": {"S": run.created_at},
            "startedAt": {"S": at},
            "gsi1pk": {"S": keys.runs_of_pipeline_pk(run.pipeline_id, run.incarnation)},
            "gsi1sk": {"S": f"{run.created_at}#{run.run_id}"},
        }
        | ({"incarnation": {"S": run.incarnation}} if run.incarnation else {})
        | ({"rerunOf": {"S": run.rerun_of}} if run.rerun_of else {})
        | ({"group": {"S": group}} if group else {})
    )


def _child_items(run: RunRequest) -> list[Item]:
    items: list[Item] = []
    pk = {"S": keys.run_pk(run.run_id)}
    for index, stage in enumerate(run.stages):
        items.append(
            {
                "pk": pk,
                "sk": {"S": keys.stage_sk(index)},
                "type": {"S": "stage"},
                "stageIndex": {"N": str(index)},
                "name": {"S": stage.name},
                "status": {"S": RunStatus.PENDING},
            }
        )
        items.extend(
            {
                "pk": pk,
                "sk": {"S": keys.job_sk(index, job.name)},
                "type": {"S": "job"},
                "stageIndex": {"N": str(index)},
                "name": {"S": job.name},
                "status": {"S": RunStatus.PENDING},
            }
            for job in stage.jobs
        )
    return items


def _job_view(item: Item) -> JobView:
    return JobView(
        name=item["name"]["S"],
        status=RunStatus(item["status"]["S"]),
        exit_code=_number(item, "exitCode"),
        output=_text(item, "output") or "",
        reason=_text(item, "reason"),
        started_at=_text(item, "startedAt"),
        finished_at=_text(item, "finishedAt"),
        duration_ms=_number(item, "durationMs"),
    )


def run_view_from_items(items: list[Item]) -> RunView | None:
    """Assemble a run, its stages and their jobs from the items of the run's partition (or a RUN item alone)."""
    run = next((item for item in items if item["sk"]["S"] == keys.RUN_SK), None)
    if run is None:
        return None
    jobs: dict[int, list[JobView]] = {}
    for item in items:
        if item["sk"]["S"].startswith(keys.JOB):
            jobs.setdefault(int(item["stageIndex"]["N"]), []).append(_job_view(item))
    stages = tuple(
        StageView(
            index=int(item["stageIndex"]["N"]),
            name=item["name"]["S"],
            status=RunStatus(item["status"]["S"]),
            jobs=tuple(jobs.get(int(item["stageIndex"]["N"]), [])),
            started_at=_text(item, "startedAt"),
            finished_at=_text(item, "finishedAt"),
            reused_from=_text(item, "reusedFrom"),
        )
        for item in sorted(items, key=lambda i: i["sk"]["S"])
        if item["sk"]["S"].startswith(keys.STAGE)
    )
    return RunView(
        run_id=run["runId"]["S"],
        pipeline_id=run["pipelineId"]["S"],
        pipeline_name=_text(run, "pipelineName") or "",
        incarnation=_text(run, "incarnation") or "",
        status=RunStatus(run["status"]["S"]),
        variables={name: value["S"] for name, value in run["variables"]["M"].items()},
        secret_names=tuple(value["S"] for value in run["secretNames"]["L"]),
        trigger_kind=run["triggerKind"]["S"],
        run_as=run["runAs"]["S"],
        created_at=run["createdAt"]["S"],
        started_at=_text(run, "startedAt"),
        finished_at=_text(run, "finishedAt"),
        reason=_text(run, "reason"),
        stages=stages,
        cancelled_by=_text(run, "cancelledBy"),
        cancelled_at=_text(run, "cancelledAt"),
        rerun_of=_text(run, "rerunOf"),
        superseded_by=_text(run, "supersededBy"),
        group=_text(run, "group"),
    )


class DynamoRuns(DynamoTable):
    """RunRecorder on DynamoDB, plus the reads of the run API."""

    def create_run(self, run: RunRequest, status: RunStatus, at: str, group: str | None = None) -> bool:
        if self.get_run(run.run_id) is not None:
            return False
        children = _child_items(run)
        with unavailable_on_outage():
            for start in range(0, len(children), 25):
                pending: Any = {self._table: [{"PutRequest": {"Item": i}} for i in children[start : start + 25]]}
                while pending:
                    pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems")
        # the RUN item goes last: a crash before it leaves a run that the next attempt records afresh
        return written(
            lambda: self._client.put_item(
                TableName=self._table,
                Item=_run_item(run, status, at, group),
                ConditionExpression="attribute_not_exists(pk)",
            )
        )

    def get_run(self, run_id: str) -> RunView | None:
        items: list[Item] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": keys.run_pk(run_id)}},
            "ConsistentRead": True,
        }
        with unavailable_on_outage():
            while True:
                page = self._client.query(**query)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return run_view_from_items([item for item in items if item["sk"]["S"] != keys.SECRETS_SK])

    def run_status(self, run_id: str) -> RunStatus | None:
        with unavailable_on_outage():
            item = self._client.get_item(
                TableName=self._table,
                Key=keys.run_key(run_id),
                ConsistentRead=True,
                ProjectionExpression="#status",
                ExpressionAttributeNames={"#status": "status"},
            ).get("Item")
        return RunStatus(item["status"]["S"]) if item else None

    def run_statuses(self, run_ids: Sequence[str]) -> dict[str, RunStatus]:
        """Statuses of many runs: BatchGetItem, 100 keys a call, with what DynamoDB left unprocessed asked again."""
        wanted = list(dict.fromkeys(run_ids))
        found: dict[str, RunStatus] = {}
        for start in range(0, len(wanted), _BATCH_KEYS):
            request: Any = {
                self._table: {
                    "Keys": [keys.run_key(run_id) for run_id in wanted[start : start + _BATCH_KEYS]],
                    "ConsistentRead": True,
                    "ProjectionExpression": "pk, #status",
                    "ExpressionAttributeNames": {"#status": "status"},
                }
            }
            for _ in range(_BATCH_ROUNDS):
                with unavailable_on_outage():
                    answer = self._client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    found[item["pk"]["S"].removeprefix(keys.RUN)] = RunStatus(item["status"]["S"])
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    def list_runs(
        self, pipeline_id: str, limit: int = 20, cursor: str | None = None, incarnation: str = ""
    ) -> Page[RunView]:
        """Runs of a pipeline (of this incarnation), newest first, a page at a time (stages not included)."""
        partition = ("gsi1pk", keys.runs_of_pipeline_pk(pipeline_id, incarnation))
        items, next_cursor = newest_first_page(
            self._client, self._table, partition, limit, cursor, index=keys.RUNS_INDEX
        )
        return [view for item in items if (view := run_view_from_items([item])) is not None], next_cursor

    def move_run(self, run_id: str, to: RunStatus, changes: Mapping[str, Field] | None = None) -> bool:
        return self._move(keys.run_key(run_id), to, changes)

    def move_stage(
        self, run_id: str, stage_index: int, to: RunStatus, changes: Mapping[str, Field] | None = None
    ) -> bool:
        return self._move(keys.key(keys.run_pk(run_id), keys.stage_sk(stage_index)), to, changes)

    def move_job(
        self, run_id: str, stage_index: int, job_name: str, to: RunStatus, changes: Mapping[str, Field] | None = None
    ) -> bool:
        return self._move(keys.key(keys.run_pk(run_id), keys.job_sk(stage_index, job_name)), to, changes)

    def _move(self, key: keys.Key, to: RunStatus, changes: Mapping[str, Field] | None) -> bool:
        """Set the status (and `changes`) only if the item's current status may move to `to`."""
        allowed = sorted(statuses_that_may_move_to(to))
        names = {"#status": "status"}
        values: dict[str, Any] = {":to": {"S": to}} | {f":from{i}": {"S": s} for i, s in enumerate(allowed)}
        assignments = ["#status = :to"]
        for i, (name, value) in enumerate((changes or {}).items()):
            if value is not None:
                names[f"#f{i}"] = name
                values[f":f{i}"] = _value(value)
                assignments.append(f"#f{i} = :f{i}")
        return written(
            lambda: self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression=f"#status IN ({', '.join(f':from{i}' for i in range(len(allowed)))})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        )
