"""Codebuild jobs on AWS: their secrets in Secrets Manager, their builds in CodeBuild, their logs in CloudWatch."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.builds import BuildOutcome
from domain.runs import MAX_OUTPUT_BYTES

from .aws_errors import delete_secret, error_code, unavailable_on_outage

# A little more than is stored, so a secret cut at the edge can still be masked before the final cut.
_KEEP_BYTES = MAX_OUTPUT_BYTES + 4096
_MAX_LOG_PAGES = 20


def build_secret_name(prefix: str, run_id: str, stage_index: int, job_name: str) -> str:
    """`hookrun/<stack>/runs/<run>/<stage>/<job>`: the build role may read `hookrun/<stack>/runs/*` only."""
    return f"{prefix}runs/{run_id}/{stage_index}/{job_name}"


def source_credentials_name(prefix: str, pipeline_id: str, name: str) -> str:
    return f"{prefix}credentials/{pipeline_id}/{name}"


class SecretsManagerBuildSecrets:
    """BuildSecrets: one JSON secret per codebuild job, read by CodeBuild as `<secret>:<NAME>` references."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def put_build_secrets(self, run_id: str, stage_index: int, job_name: str, values: Mapping[str, str]) -> str:
        from botocore.exceptions import ClientError

        name = build_secret_name(self._prefix, run_id, stage_index, job_name)
        text = json.dumps(dict(values))
        with unavailable_on_outage():
            try:
                created = self._client.create_secret(
                    Name=name, SecretString=text, Description=f"hookrun: the secrets of one build of run {run_id}"
                )
                return str(created["ARN"])
            except ClientError as exc:
                if error_code(exc) != "ResourceExistsException":  # a retried prepare: the same values again
                    raise
            return str(self._client.put_secret_value(SecretId=name, SecretString=text)["ARN"])

    def delete_build_secrets(self, run_id: str, stage_index: int, job_name: str) -> None:

        delete_secret(self._client, build_secret_name(self._prefix, run_id, stage_index, job_name))


class SecretsManagerSourceCredentials:
    """SourceCredentials and SourceCredentialStore: the https tokens a pipeline's owners stored for its repository."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def put_source_token(self, pipeline_id: str, name: str, token: str) -> None:
        from botocore.exceptions import ClientError

        secret = source_credentials_name(self._prefix, pipeline_id, name)
        with unavailable_on_outage():
            try:
                self._client.put_secret_value(SecretId=secret, SecretString=token)
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
                description = f"hookrun: source credentials {name} of pipeline {pipeline_id}"
                self._client.create_secret(Name=secret, SecretString=token, Description=description)

    def delete_source_token(self, pipeline_id: str, name: str) -> None:

        delete_secret(self._client, source_credentials_name(self._prefix, pipeline_id, name))

    def get_source_token(self, pipeline_id: str, name: str) -> str | None:
        from botocore.exceptions import ClientError

        with unavailable_on_outage():
            try:
                secret = self._client.get_secret_value(
                    SecretId=source_credentials_name(self._prefix, pipeline_id, name)
                )
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return None
                raise
        return str(secret.get("SecretString") or "") or None


class CodeBuildReader:
    """BuildReader: a build's status from CodeBuild and the tail of its log from CloudWatch Logs."""

    def __init__(self, codebuild: Any, logs: Any) -> None:
        self._codebuild = codebuild
        self._logs = logs

    def get_build(self, build_id: str) -> BuildOutcome | None:
        with unavailable_on_outage():
            builds = self._codebuild.batch_get_builds(ids=[build_id]).get("builds", [])
        if not builds:
            return None
        build = builds[0]
        log = build.get("logs", {})
        output, dropped = self._log_tail(log.get("groupName"), log.get("streamName"))
        return BuildOutcome(
            build_status=str(build.get("buildStatus", "FAILED")),
            output=output,
            dropped_bytes=dropped,
            duration_ms=_duration_ms(build.get("startTime"), build.get("endTime")),
        )

    def _log_tail(self, group: str | None, stream: str | None) -> tuple[str, int]:
        """The last events of the stream, read backwards until there is enough, and the bytes left unread."""
        from botocore.exceptions import ClientError

        if not group or not stream:
            return "", 0
        lines: list[str] = []
        kept = dropped = 0
        token: str | None = None
        for _ in range(_MAX_LOG_PAGES):
            arguments = {"logGroupName": group, "logStreamName": stream, "startFromHead": False}
            try:
                with unavailable_on_outage():
                    page = self._logs.get_log_events(**arguments, **({"nextToken": token} if token else {}))
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    break
                raise
            events = page.get("events", [])
            for event in reversed(events):
                message = str(event.get("message", ""))
                line = message if message.endswith("\n") else message + "\n"
                size = len(line.encode("utf-8"))
                if kept < _KEEP_BYTES:
                    lines.append(line)
                    kept += size
                else:
                    dropped += size
            if not events or page.get("nextBackwardToken") in (None, token):
                break
            token = page.get("nextBackwardToken")
        return "".join(reversed(lines)), dropped


def _duration_ms(start: Any, end: Any) -> int | None:
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return None
    return int((end - start).total_seconds() * 1000)
