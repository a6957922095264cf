"""The local stack tells a job's connections by the user owning their socket (hookrun/job_gate.py)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from hookrun import job_gate


@pytest.fixture
def connection() -> Iterator[tuple[tuple[str, int], int]]:
    """A local TCP connection of this process: the client's address and the server's port."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            accepted, address = server.accept()
            with accepted:
                assert address == client.getsockname()
                yield address, server.getsockname()[1]


def test_the_owner_of_a_local_connection_is_the_user_that_opened_it(connection: tuple[tuple[str, int], int]) -> None:
    (_, client_port), server_port = connection
    assert job_gate.socket_owner(client_port, server_port) == os.geteuid()
    assert job_gate.socket_owner(server_port, client_port) == os.geteuid()  # the server's end, the other way
    assert job_gate.socket_owner(client_port, client_port) is None


def test_the_kernel_tables_give_the_same_owner_where_sock_diag_is_missing(
    connection: tuple[tuple[str, int], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    (_, client_port), server_port = connection

    def no_sock_diag(*_: object) -> int | None:
        raise OSError("no sock_diag")

    monkeypatch.setattr(job_gate, "_owner_by_netlink", no_sock_diag)
    assert job_gate.socket_owner(client_port, server_port) == os.geteuid()
    assert job_gate.socket_owner(client_port, client_port) is None


def test_a_connection_is_a_jobs_when_its_socket_belongs_to_the_jobs_user(
    connection: tuple[tuple[str, int], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, server_port = connection
    verify = job_gate.refusing_jobs(server_port)
    monkeypatch.setattr(job_gate, "job_uid", lambda: os.geteuid() + 1)
    assert verify(None, address) and not job_gate.from_a_job(address, server_port)
    monkeypatch.setattr(job_gate, "job_uid", os.geteuid)
    assert not verify(None, address) and job_gate.from_a_job(address, server_port)
    monkeypatch.setattr(job_gate, "job_uid", lambda: None)  # a stack not run as root cannot tell
    assert verify(None, address)
