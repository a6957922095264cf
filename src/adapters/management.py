"""ManagementStore on DynamoDB: every change and its audit entry in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from domain.errors import Conflict, ErrorCode
from domain.models import AuditEntry, Grant, Pipeline, Trigger, User
from domain.ports import StoredPipeline

from . import keys
from .aws_errors import error_code, unavailable_on_outage
from .dynamodb import (
    DynamoTable,
    definition_json,
    grant_from_item,
    grant_to_item,
    pipeline_from_item,
    pipeline_to_item,
    secret_defaults_item,
    trigger_from_item,
    trigger_to_item,
    user_from_item,
    user_to_item,
)

Item = dict[str, Any]
_MAX_TRANSACTION_ITEMS = 100


def _stored(item: Item) -> StoredPipeline:
    return StoredPipeline(
        pipeline=pipeline_from_item(item),
        token_hash=item.get("tokenHash", {}).get("S"),
        created_at=item.get("createdAt", {}).get("S", ""),
        updated_at=item.get("updatedAt", {}).get("S", ""),
        incarnation=item.get("incarnation", {}).get("S", ""),
        version=int(item.get("version", {}).get("N", "0")),
    )


def _audit_item(entry: AuditEntry, incarnation: str) -> Item:
    return {
        "pk": {"S": keys.subject_pk(entry.target, incarnation)},
        "sk": {"S": keys.audit_sk(entry.at, uuid.uuid4().hex[:8])},
        "type": {"S": "audit"},
        "entry": {"S": entry.model_dump_json(by_alias=True)},
    }


def _as_read(stored: StoredPipeline) -> tuple[str, dict[str, Any]]:
    """The condition that the pipeline item is still the version `stored` was read at (items from before
    versions have none), and its values; `:next` is the version a change writes."""
    values = {":next": {"N": str(stored.version + 1)}}
    if stored.version == 0:
        return "attribute_exists(pk) AND attribute_not_exists(version)", values
    return "version = :read", values | {":read": {"N": str(stored.version)}}


def _changed_meanwhile(stored: StoredPipeline) -> Conflict:
    return Conflict(
        ErrorCode.CONFLICT,
        f"Pipeline '{stored.pipeline.id}' or its webhook changed meanwhile. Read it again and retry.",
    )


class DynamoManagement(DynamoTable):
    # reads

    def _get(self, key: keys.Key) -> Item | None:
        with unavailable_on_outage():
            item: Item | None = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return item

    def _query(self, **query: Any) -> list[Item]:
        items: list[Item] = []
        with unavailable_on_outage():
            while True:
                page = self._client.query(TableName=self._table, **query)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page or "Limit" in query:
                    return items
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get_pipeline(self, pipeline_id: str) -> StoredPipeline | None:
        item = self._get(keys.pipeline_key(pipeline_id))
        return _stored(item) if item else None

    def list_pipelines(self, user_id: str | None) -> list[StoredPipeline]:
        if user_id is None:
            items = self._query(
                IndexName=keys.RUNS_INDEX,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": keys.ALL_PIPELINES}},
            )
            return [_stored(item) for item in items]
        grants = self._query(
            IndexName=keys.RUNS_INDEX,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.grants_of_user_pk(user_id)}},
        )
        found = [self.get_pipeline(item["gsi1sk"]["S"]) for item in grants]
        return [stored for stored in found if stored is not None]

    def get_user(self, user_id: str) -> User | None:
        item = self._get(keys.user_key(user_id))
        return user_from_item(item) if item else None

    def user_id_for_principal(self, principal_arn: str) -> str | None:
        """The hookrun user an IAM principal acts as, if an admin mapped it."""
        item = self._get(keys.principal_key(principal_arn))
        return item["userId"]["S"] if item else None

    def list_grants(self, pipeline_id: str) -> list[Grant]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :grant)",
            ExpressionAttributeValues={":pk": {"S": keys.pipeline_pk(pipeline_id)}, ":grant": {"S": keys.GRANT}},
            ConsistentRead=True,
        )
        return [grant_from_item(item) for item in items]

    def get_trigger(self, token_hash: str) -> Trigger | None:
        item = self._get(keys.trigger_key(token_hash))
        return trigger_from_item(item) if item else None

    def list_audit(self, subject: str, limit: int = 50, incarnation: str = "") -> list[AuditEntry]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :audit)",
            ExpressionAttributeValues={
                ":pk": {"S": keys.subject_pk(subject, incarnation)},
                ":audit": {"S": keys.AUDIT},
            },
            ScanIndexForward=False,
            Limit=limit,
        )
        return [AuditEntry.model_validate_json(item["entry"]["S"]) for item in items]

    # writes

    def _transact(self, actions: list[dict[str, Any]], audit: AuditEntry, incarnation: str = "") -> list[str]:
        """Write `actions` and the audit entry atomically; returns the cancellation reasons ([] on success)."""
        actions = [*actions, {"Put": {"TableName": self._table, "Item": _audit_item(audit, incarnation)}}]
        try:
            with unavailable_on_outage():
                self._client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            codes = [str(r.get("Code", "None")) for r in reasons] or ["ConditionalCheckFailed"]
            if "TransactionConflict" in codes:
                raise Conflict(ErrorCode.CONFLICT) from exc
            return codes
        return []

    def _change(self, stored: StoredPipeline, actions: list[dict[str, Any]], audit: AuditEntry) -> None:
        """Write `actions` with the audit entry, only if the pipeline is still as read; one version more."""
        self._commit(stored, [*actions, self._next_version(stored)], audit)

    def _commit(self, stored: StoredPipeline, actions: list[dict[str, Any]], audit: AuditEntry) -> None:
        if self._transact(actions, audit, stored.incarnation):
            raise _changed_meanwhile(stored)

    def _next_version(self, stored: StoredPipeline, assignments: str = "", **values: Any) -> dict[str, Any]:
        """The update of the pipeline item that checks the version read and writes the next one."""
        condition, expected = _as_read(stored)
        return {
            "Update": {
                "TableName": self._table,
                "Key": keys.pipeline_key(stored.pipeline.id),
                "UpdateExpression": "SET version = :next" + (f", {assignments}" if assignments else ""),
                "ConditionExpression": condition,
                "ExpressionAttributeValues": expected | values,
            }
        }

    def _put(self, item: Item, condition: str | None = None, **expression: Any) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self._table, "Item": item}
        if condition:
            put["ConditionExpression"] = condition
        put.update(expression)
        return {"Put": put}

    def _delete(self, key: keys.Key) -> dict[str, Any]:
        return {"Delete": {"TableName": self._table, "Key": key}}

    def create_pipeline(self, pipeline: Pipeline, owner: Grant, audit: AuditEntry, incarnation: str) -> bool:
        actions = [
            self._put(pipeline_to_item(pipeline, at=audit.at, incarnation=incarnation), "attribute_not_exists(pk)"),
            self._put(grant_to_item(owner)),
            self._kept_limit(pipeline, incarnation),
        ]
        if (secrets := secret_defaults_item(pipeline)) is not None:
            actions.append(self._put(secrets))
        failed = self._transact(actions, audit, incarnation)
        return not failed

    def update_pipeline(self, stored: StoredPipeline, pipeline: Pipeline, audit: AuditEntry) -> None:
        secrets = secret_defaults_item(pipeline)
        names = sorted(name for name, d in pipeline.variables.items() if d.secret and d.default is not None)
        values: dict[str, Any] = {":d": {"S": definition_json(pipeline)}, ":at": {"S": audit.at}}
        if names:
            values[":names"] = {"SS": names}
        update = self._next_version(
            stored,
            "#definition = :d, updatedAt = :at" + (", secretDefaults = :names" if names else ""),
            **values,
        )
        if not names:
            update["Update"]["UpdateExpression"] += " REMOVE secretDefaults"
        update["Update"]["ExpressionAttributeNames"] = {"#definition": "definition"}
        kept = self._put(secrets) if secrets is not None else self._delete(keys.secret_defaults_key(pipeline.id))
        self._commit(stored, [update, kept, self._kept_limit(pipeline, stored.incarnation)], audit)

    def _kept_limit(self, pipeline: Pipeline, incarnation: str) -> dict[str, Any]:
        """maxRunningRuns kept with the pipeline's run slots, for the webhook's take alongside its pipeline read."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": keys.run_slots_key(pipeline.id, incarnation),
                "UpdateExpression": "SET #limit = :limit",
                "ExpressionAttributeNames": {"#limit": "limit"},
                "ExpressionAttributeValues": {":limit": {"N": str(pipeline.max_running_runs)}},
            }
        }

    def delete_pipeline(self, stored: StoredPipeline, grants: Sequence[Grant], audit: AuditEntry) -> None:
        grant_keys = [keys.grant_key(g.pipeline_id, g.user_id) for g in grants]
        room = _MAX_TRANSACTION_ITEMS - 5
        condition, expected = _as_read(stored)
        expected.pop(":next")
        delete = {"Delete": {**self._delete(keys.pipeline_key(stored.pipeline.id))["Delete"]}}
        delete["Delete"] |= {"ConditionExpression": condition} | (
            {"ExpressionAttributeValues": expected} if expected else {}
        )
        with unavailable_on_outage():
            for start in range(room, len(grant_keys), 25):  # grants beyond one transaction go first
                chunk = grant_keys[start : start + 25]
                self._client.batch_write_item(
                    RequestItems={self._table: [{"DeleteRequest": {"Key": k}} for k in chunk]}
                )
        slots = keys.run_slots_key(stored.pipeline.id, stored.incarnation)  # its runs still going free nothing
        actions = [delete, self._delete(keys.secret_defaults_key(stored.pipeline.id)), self._delete(slots)]
        actions += [self._delete(k) for k in grant_keys[:room]]
        if stored.token_hash:
            actions.append(self._delete(keys.trigger_key(stored.token_hash)))
        self._commit(stored, actions, audit)

    def put_user(self, user: User, previous: User | None, audit: AuditEntry) -> None:
        gone = set(previous.principals if previous else ()) - set(user.principals)
        actions = [self._put(user_to_item(user))]
        actions += [
            self._put(
                principal_item(p, user.id),
                "attribute_not_exists(pk) OR userId = :me",
                ExpressionAttributeValues={":me": {"S": user.id}},
            )
            for p in user.principals
        ]
        actions += [self._delete(keys.principal_key(p)) for p in sorted(gone)]
        if self._transact(actions, audit):
            raise Conflict(ErrorCode.PRINCIPAL_TAKEN)

    def put_grant(self, stored: StoredPipeline, grant: Grant, audit: AuditEntry) -> None:
        self._change(stored, [self._put(grant_to_item(grant))], audit)

    def delete_grant(self, stored: StoredPipeline, grant: Grant, audit: AuditEntry) -> None:
        self._change(stored, [self._delete(keys.grant_key(grant.pipeline_id, grant.user_id))], audit)

    def create_trigger(self, stored: StoredPipeline, trigger: Trigger, audit: AuditEntry) -> None:
        point = self._next_version(stored, "tokenHash = :h", **{":h": {"S": trigger.token_hash}})
        point["Update"]["ConditionExpression"] += " AND attribute_not_exists(tokenHash)"
        self._commit(stored, [self._put(trigger_to_item(trigger), "attribute_not_exists(pk)"), point], audit)

    def update_trigger(self, stored: StoredPipeline, trigger: Trigger, audit: AuditEntry) -> None:
        self._change(stored, [self._put(trigger_to_item(trigger), "attribute_exists(pk)")], audit)

    def replace_trigger(self, stored: StoredPipeline, old_token_hash: str, trigger: Trigger, audit: AuditEntry) -> None:
        point = self._next_version(stored, "tokenHash = :new", **{":new": {"S": trigger.token_hash}})
        actions = [
            {
                "Delete": {
                    **self._delete(keys.trigger_key(old_token_hash))["Delete"],
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            self._put(trigger_to_item(trigger), "attribute_not_exists(pk)"),
            point,
        ]
        self._commit(stored, actions, audit)


def principal_item(principal_arn: str, user_id: str) -> Item:
    """The item that maps an IAM principal to the hookrun user it acts as."""
    return {**keys.principal_key(principal_arn), "type": {"S": "principal"}, "userId": {"S": user_id}}
