"""Which local connections come from a job's processes, so the local stack can refuse them what it trusts.

On the local stack every tool signs as the admin with moto's well-known keys, and the local API Gateway trusts the
`X-Hookrun-User` header: a job's script on the same host could use both. Jobs (lambda scripts under the supervisor,
local builds) run as `nobody` when the stack runs as root, so a TCP connection whose socket belongs to that user is
a job's: moto refuses it, and the gateway ignores its `X-Hookrun-User` header (a webhook call is still served).
When the stack does not run as root, jobs run as its own user and nothing here can tell them apart.
"""

from __future__ import annotations

import functools
import os
import pwd
import socket
import struct
from collections.abc import Callable
from typing import Any

JOB_USER = "nobody"  # the user adapters/supervisor.py runs a job as
_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
# sock_diag(7): an exact lookup of one socket by its addresses and ports
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_ALL_STATES = 0xFFFFFFFF
_NO_COOKIE = 0xFFFFFFFF
_UID_OFFSET = 4 + 48 + 12  # in inet_diag_msg: family/state/timer/retrans, the socket id, expires/rqueue/wqueue


@functools.cache
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
    try:
        return _owner_by_netlink(client_port, server_port)
    except OSError:  # no sock_diag here: read the kernel's tables
        return _owner_by_proc(client_port, server_port)


def _owner_by_netlink(client_port: int, server_port: int) -> int | None:
    """One exact sock_diag lookup of the IPv4 loopback socket 127.0.0.1:client -> 127.0.0.1:server.

    Reading /proc/net/tcp costs milliseconds on a loaded stack (thousands of sockets, TIME_WAIT included), on
    moto's accept path; the kernel finds one socket by its ports in microseconds.
    """
    loopback = socket.inet_aton("127.0.0.1") + bytes(12)
    socket_id = struct.pack(">HH16s16s", client_port, server_port, loopback, loopback)
    socket_id += struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)
    request = struct.pack("=BBBxI", socket.AF_INET, socket.IPPROTO_TCP, 0, _ALL_STATES) + socket_id
    header = struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as netlink:
        netlink.settimeout(1.0)
        netlink.send(header + request)
        answer = netlink.recv(65536)
    _, kind, _, _, _ = struct.unpack_from("=IHHII", answer)
    if kind != _SOCK_DIAG_BY_FAMILY:  # NLMSG_ERROR: no such socket (ENOENT)
        return None
    uid: int = struct.unpack_from("=I", answer, 16 + _UID_OFFSET)[0]
    return uid


def _owner_by_proc(client_port: int, server_port: int) -> int | None:
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
