"""What hookrun keeps of a source delivery (SourceEvent), and the errors of reading one."""

from __future__ import annotations

from ..base import Model
from ..errors import ErrorCode, HookrunError
from .providers import EventKind, Provider


class InvalidSourceEvent(HookrunError):
    """A source delivery hookrun cannot read, with the code of the rule it broke."""

    def __init__(self, error: ErrorCode, message: str) -> None:
        super().__init__(error, message)


class SourceEvent(Model):
    """What hookrun keeps of one source delivery: the ref that moved, its head commit, and who pushed."""

    provider: Provider
    kind: EventKind
    event_name: str
    ref: str = ""
    branch: str | None = None
    tag: str | None = None
    commit_sha: str = ""
    commit_message: str = ""
    commit_author: str = ""
    repository: str = ""
    repository_urls: tuple[str, ...] = ()  # the repository's clone, ssh and web URLs, as the provider sent them
    before: str = ""  # the ref's SHA before the push, as the provider sent it
    after: str = ""  # the ref's SHA after the push, as the provider sent it
    deleted: bool = False
