"""Which local connections come from a job's processes, so the local stack can refuse them what it trusts.

On the local stack every tool signs as the admin with moto's well-known keys, and the local API Gateway trusts the
`X-Hookrun-User` header: a job's script on the same host could use both. Jobs (lambda scripts under the supervisor,
local builds) run as `nobody` when the stack runs as root, so a TCP connection whose socket belongs to that user is
a job's: moto refuses it, and the gateway ignores its `X-Hookrun-User` header (a webhook call is still served).
When the stack does not run as root, jobs run as its own user and nothing here can tell them apart.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable
from typing import Any

JOB_USER = "nobody"  # the user adapters/supervisor.py runs a job as
_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


def job_uid() -> int | None:
    """The uid jobs run as when it differs from the stack's own (the stack runs as root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(JOB_USER).pw_uid
    except KeyError:
        return None


def socket_owner(client_port: int, server_port: int) -> int | None:
    """The uid owning the client end (local port `client_port`) of a local connection to `server_port`."""
    ends = f":{client_port:04X} "
    server = f":{server_port:04X} "
    for table in _TABLES:
        try:
            with open(table, encoding="ascii") as file:
                text = file.read()
        except OSError:
            continue
        at = text.find(ends)
        while at >= 0:  # a substring search: the tables hold thousands of lines on a busy host
            line = text[text.rfind("\n", 0, at) + 1 : text.find("\n", at)]
            fields = line.split()
            if fields[1].endswith(ends.strip()) and fields[2].endswith(server.strip()):
                return int(fields[7])
            at = text.find(ends, at + 1)
    return None


def from_a_job(client_address: Any, server_port: int) -> bool:
    """Whether the connection from `client_address` (host, port) to this host's `server_port` is a job's."""
    uid = job_uid()
    return uid is not None and socket_owner(int(client_address[1]), server_port) == uid


def refusing_jobs(server_port: int) -> Callable[[Any, Any], bool]:
    """A socketserver `verify_request` that closes every connection a job opens."""
    return lambda _request, client_address: not from_a_job(client_address, server_port)
