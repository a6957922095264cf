"""The HOOKRUN_* variables a source event gives its run."""

from __future__ import annotations

from ..base import MAX_VALUE_LENGTH
from .events import SourceEvent


def built_in_variables(event: SourceEvent) -> dict[str, str]:
    """The HOOKRUN_* variables a source event gives its run, safe for a process environment.

    NUL characters are removed, lone surrogates replaced, and each value cut to 4096 characters.
    """
    values = {
        "HOOKRUN_SOURCE": event.provider.value,
        "HOOKRUN_EVENT": event.kind.value,
        "HOOKRUN_REF": event.ref,
        "HOOKRUN_COMMIT_SHA": event.commit_sha,
        "HOOKRUN_COMMIT_MESSAGE": event.commit_message,
        "HOOKRUN_COMMIT_AUTHOR": event.commit_author,
        "HOOKRUN_REPOSITORY": event.repository,
    }
    if event.branch is not None:
        values["HOOKRUN_BRANCH"] = event.branch
    if event.tag is not None:
        values["HOOKRUN_TAG"] = event.tag
    return {name: _environment_safe(value) for name, value in values.items()}


def _environment_safe(value: str) -> str:
    cleaned = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return cleaned[:MAX_VALUE_LENGTH]
