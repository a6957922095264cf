"""The hookrun API as the CLI tests fake it: canned answers per (method, path), and what the CLI sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hookrun.client import HookrunClient


@dataclass
class Sent:
    method: str
    path: str
    body: Any
    user: str | None
    endpoint: str
    params: Any = None


@dataclass
class FakeApi:
    """Answers HookrunClient.send per (method, path) and records what was sent.

    An answer is a body (status 202 for a POST, else 200), a (status, body) pair, an exception to raise, or a list
    of those served in order (the last one again and again).
    """

    answers: dict[tuple[str, str], Any] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    def send(self, client: HookrunClient, method: str, path: str, params: Any, body: Any) -> tuple[int, dict[str, Any]]:
        self.sent.append(Sent(method, path, body, client.user, client.endpoint, params))
        answer = self.answers[(method, path)]
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, Exception):
            raise answer
        status, found = answer if isinstance(answer, tuple) else ((202 if method == "POST" else 200), answer)
        return status, dict(found)
