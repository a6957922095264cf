"""DynamoDB implementations of the ports. Item <-> domain mapping lives here and nowhere else."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from domain.errors import Unavailable
from domain.models import Grant, Pipeline, Role, RunRequest, Trigger, User, UserStatus
from domain.ports import Access
from domain.variables import SECRET_MASK

from . import keys
from .aws_errors import error_code, unavailable_on_outage, written

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]
SECRETS_TTL_SECONDS = 7 * 24 * 3600
# as long as Step Functions keeps an execution's name (90 days after it ends, within a day of its start), so a replay
# still compares with the run it started
REQUEST_TTL_SECONDS = 91 * 24 * 3600
_BATCH_ATTEMPTS = 3


def trigger_from_item(item: Item) -> Trigger:
    return Trigger(
        token_hash=item["pk"]["S"].removeprefix(keys.TRIGGER),
        pipeline_id=item["pipelineId"]["S"],
        enabled=item["enabled"]["BOOL"],
        run_as=item["runAs"]["S"],
        enabled_at=item["enabledAt"]["S"],
        token_hint=item["tokenHint"]["S"],
        signing_secret=item.get("signingSecret", {}).get("S"),
        incarnation=item.get("incarnation", {}).get("S", ""),
    )


def trigger_to_item(trigger: Trigger) -> Item:
    item: Item = {
        **keys.trigger_key(trigger.token_hash),
        "type": {"S": "trigger"},
        "pipelineId": {"S": trigger.pipeline_id},
        "enabled": {"BOOL": trigger.enabled},
        "runAs": {"S": trigger.run_as},
        "enabledAt": {"S": trigger.enabled_at},
        "tokenHint": {"S": trigger.token_hint},
    }
    if trigger.signing_secret:
        item["signingSecret"] = {"S": trigger.signing_secret}
    if trigger.incarnation:
        item["incarnation"] = {"S": trigger.incarnation}
    return item


def pipeline_from_item(item: Item, secret_defaults: Item | None = None) -> Pipeline:
    """The pipeline; its secret variables' defaults from `secret_defaults` if given, else the mask."""
    pipeline = Pipeline.model_validate_json(item["definition"]["S"])
    names = item.get("secretDefaults", {}).get("SS", [])
    if not names:
        return pipeline
    values = json.loads(secret_defaults["values"]["S"]) if secret_defaults else {}
    variables = {
        name: declaration.model_copy(update={"default": values.get(name, SECRET_MASK)})
        if name in names
        else declaration
        for name, declaration in pipeline.variables.items()
    }
    return pipeline.model_copy(update={"variables": variables})


def _secret_defaults(pipeline: Pipeline) -> dict[str, Any]:
    return {
        name: declaration.default
        for name, declaration in pipeline.variables.items()
        if declaration.secret and declaration.default is not None
    }


def secret_defaults_item(pipeline: Pipeline) -> Item | None:
    """The item that keeps the pipeline's secret defaults out of its definition; None if it has none."""
    values = _secret_defaults(pipeline)
    if not values:
        return None
    return {
        **keys.secret_defaults_key(pipeline.id),
        "type": {"S": "secretDefaults"},
        "values": {"S": json.dumps(values)},
    }


def definition_json(pipeline: Pipeline) -> str:
    """The definition as stored: the defaults of secret variables left out (they are in their own item)."""
    stripped = {
        name: declaration.model_copy(update={"default": None}) if name in _secret_defaults(pipeline) else declaration
        for name, declaration in pipeline.variables.items()
    }
    return pipeline.model_copy(update={"variables": stripped}).model_dump_json(by_alias=True)


def pipeline_to_item(pipeline: Pipeline, token_hash: str | None = None, at: str = "", incarnation: str = "") -> Item:
    item: Item = {
        **keys.pipeline_key(pipeline.id),
        "type": {"S": "pipeline"},
        "definition": {"S": definition_json(pipeline)},
        "gsi1pk": {"S": keys.ALL_PIPELINES},
        "gsi1sk": {"S": pipeline.id},
        "createdAt": {"S": at},
        "updatedAt": {"S": at},
    }
    if token_hash:
        item["tokenHash"] = {"S": token_hash}
    if incarnation:
        item["incarnation"] = {"S": incarnation}
        item["version"] = {"N": "1"}
    if names := sorted(_secret_defaults(pipeline)):
        item["secretDefaults"] = {"SS": names}
    return item


def grant_from_item(item: Item) -> Grant:
    return Grant(
        pipeline_id=item["pk"]["S"].removeprefix(keys.PIPELINE),
        user_id=item["sk"]["S"].removeprefix(keys.GRANT),
        role=Role(item["role"]["S"]),
    )


def grant_to_item(grant: Grant) -> Item:
    return {
        **keys.grant_key(grant.pipeline_id, grant.user_id),
        "type": {"S": "grant"},
        "role": {"S": grant.role},
        "gsi1pk": {"S": keys.grants_of_user_pk(grant.user_id)},
        "gsi1sk": {"S": grant.pipeline_id},
    }


def user_from_item(item: Item) -> User:
    return User(
        id=item["pk"]["S"].removeprefix(keys.USER),
        status=UserStatus(item["status"]["S"]),
        principals=tuple(p["S"] for p in item.get("principals", {}).get("L", [])),
    )


def user_to_item(user: User) -> Item:
    return {
        **keys.user_key(user.id),
        "type": {"S": "user"},
        "status": {"S": user.status},
        "principals": {"L": [{"S": p} for p in user.principals]},
    }


class DynamoTable:
    """An adapter over the app's one DynamoDB table."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name


class DynamoTriggerReader(DynamoTable):
    def get_trigger(self, token_hash: str) -> Trigger | None:
        with unavailable_on_outage():
            response = self._client.get_item(
                TableName=self._table, Key=keys.trigger_key(token_hash), ConsistentRead=True
            )
        item = response.get("Item")
        return trigger_from_item(item) if item else None


class DynamoAccessReader(DynamoTable):
    def get_access(self, pipeline_id: str, user_id: str) -> Access:
        wanted = [
            keys.pipeline_key(pipeline_id),
            keys.grant_key(pipeline_id, user_id),
            keys.user_key(user_id),
            keys.secret_defaults_key(pipeline_id),  # in the same batch: no call more on the hot path
        ]
        items = self._batch_get(wanted)
        by_key = {(item["pk"]["S"], item["sk"]["S"]): item for item in items}

        def find(k: keys.Key) -> Item | None:
            return by_key.get((k["pk"]["S"], k["sk"]["S"]))

        pipeline_item, grant_item, user_item, secret_defaults = (find(k) for k in wanted)
        return Access(
            pipeline=pipeline_from_item(pipeline_item, secret_defaults) if pipeline_item else None,
            grant=grant_from_item(grant_item) if grant_item else None,
            user=user_from_item(user_item) if user_item else None,
            incarnation=pipeline_item.get("incarnation", {}).get("S", "") if pipeline_item else "",
        )

    def _batch_get(self, wanted: list[Item]) -> list[Item]:
        found: list[Item] = []
        pending: list[Item] = wanted
        for _ in range(_BATCH_ATTEMPTS):
            with unavailable_on_outage():
                response = self._client.batch_get_item(
                    RequestItems={self._table: {"Keys": pending, "ConsistentRead": True}}
                )
            found.extend(response.get("Responses", {}).get(self._table, []))
            unprocessed = response.get("UnprocessedKeys", {}).get(self._table)
            pending = list(unprocessed["Keys"]) if unprocessed else []
            if not pending:
                return found
        raise Unavailable()


class DynamoRunSecrets(DynamoTable):
    def __init__(self, client: DynamoDBClient, table_name: str, now_epoch: Any) -> None:
        super().__init__(client, table_name)
        self._now_epoch = now_epoch

    def put_run_request(self, run: RunRequest, secrets: Mapping[str, str]) -> bool:
        """The run's request and its secret values (if any) in one write, each only if the run has none yet."""
        now = int(self._now_epoch())
        items = [
            {
                **keys.run_request_key(run.run_id),
                "type": {"S": "run-request"},
                "request": {"S": run.model_dump_json(by_alias=True)},
                keys.TTL_ATTRIBUTE: {"N": str(now + REQUEST_TTL_SECONDS)},
            }
        ]
        if secrets:
            items.append(
                {
                    **keys.run_secrets_key(run.run_id),
                    "type": {"S": "run-secrets"},
                    "values": {"S": json.dumps(dict(secrets))},
                    keys.TTL_ATTRIBUTE: {"N": str(now + SECRETS_TTL_SECONDS)},
                }
            )
        # a repeated delivery id never replaces the request or the secrets of the run it started
        condition = "attribute_not_exists(pk)"
        if len(items) == 1:
            return written(
                lambda: self._client.put_item(TableName=self._table, Item=items[0], ConditionExpression=condition)
            )
        puts: Any = [{"Put": {"TableName": self._table, "Item": i, "ConditionExpression": condition}} for i in items]
        try:
            with unavailable_on_outage():
                self._client.transact_write_items(TransactItems=puts)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":  # kept already, or being kept by its twin
                return False
            raise
        return True

    def keep_run_request(self, run: RunRequest) -> bool:
        """The request an execution carried inline, kept once: a retry or a repeat finds it kept."""
        return self.put_run_request(run, {})

    def delete_run_request(self, run_id: str) -> None:
        with unavailable_on_outage():
            for key in (keys.run_request_key(run_id), keys.run_secrets_key(run_id)):
                self._client.delete_item(TableName=self._table, Key=key)

    def get_run_request(self, run_id: str) -> RunRequest | None:
        with unavailable_on_outage():
            item = self._client.get_item(
                TableName=self._table, Key=keys.run_request_key(run_id), ConsistentRead=True
            ).get("Item")
        return RunRequest.model_validate_json(item["request"]["S"]) if item else None

    def delete_run_secrets(self, run_id: str) -> None:
        with unavailable_on_outage():
            self._client.delete_item(TableName=self._table, Key=keys.run_secrets_key(run_id))

    def get_run_secrets(self, run_id: str) -> dict[str, str]:
        with unavailable_on_outage():
            response = self._client.get_item(
                TableName=self._table, Key=keys.run_secrets_key(run_id), ConsistentRead=True
            )
        item = response.get("Item")
        return dict(json.loads(item["values"]["S"])) if item else {}
