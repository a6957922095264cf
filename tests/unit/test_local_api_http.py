"""The local API Gateway's HTTP edge under attack (issue 16.6): raw sockets against the real server, fake functions.

Smuggling by ambiguous framing, bodies that never arrive whole, idle and slow connections, malformed request heads:
each answers `{code, message}` with a registered code, or closes the connection, and never invokes a function.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from domain.errors import ErrorCode
from hookrun.local_api import ApiGateway, LocalApiServer
from tests.unit.test_local_api import ROUTES, FakeFunctions

CLIENT_TIMEOUT_SECONDS = 10  # a server that holds a connection longer than this fails the test instead of hanging it
IDLE_SECONDS = 1.0  # the bounds of the impatient server, small so that the tests that wait for them are short
REQUEST_SECONDS = 2.0
SMUGGLED = b"POST /pipeline/webhook/hr_smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"


def serving(idle_seconds: float, request_seconds: float) -> Iterator[tuple[LocalApiServer, FakeFunctions]]:
    functions = FakeFunctions()
    server = LocalApiServer(ApiGateway(ROUTES, functions), "127.0.0.1", 0)
    server.idle_seconds, server.request_seconds = idle_seconds, request_seconds
    server.serve_in_background()
    yield server, functions
    server.stop()


@pytest.fixture
def server() -> Iterator[tuple[LocalApiServer, FakeFunctions]]:
    """The server with its own bounds."""
    yield from serving(LocalApiServer.idle_seconds, LocalApiServer.request_seconds)


@pytest.fixture
def impatient() -> Iterator[tuple[LocalApiServer, FakeFunctions]]:
    """The server with bounds that the tests can wait out."""
    yield from serving(IDLE_SECONDS, REQUEST_SECONDS)


def connect(server: LocalApiServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=CLIENT_TIMEOUT_SECONDS)


def exchange(server: LocalApiServer, data: bytes) -> bytes:
    """Send `data`, then read until the server closes the connection."""
    with connect(server) as connection:
        connection.sendall(data)
        return read_to_end(connection)


def read_to_end(connection: socket.socket) -> bytes:
    answer = bytearray()
    while chunk := connection.recv(65536):
        answer += chunk
    return bytes(answer)


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """The one HTTP answer in `answer`: status, headers (lower-case names), body; fails if more follows."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    assert len(body) == int(headers["content-length"]), "one answer, nothing after it"
    return int(status_line.split()[1]), headers, body


def assert_refused(answer: bytes, status: int, code: str) -> dict[str, str]:
    """A JSON `{code, message}` answer with a code the registry lists at that status, on a closed connection."""
    found, headers, body = parse(answer)
    assert (found, headers["content-type"]) == (status, "application/json")
    error = json.loads(body)
    assert set(error) == {"code", "message"}
    assert error["code"] == code
    assert ErrorCode[code].status == status
    assert headers["connection"] == "close"
    return error


def post(body: bytes, *framing: str, version: str = "HTTP/1.1") -> bytes:
    head = [f"POST /pipeline/webhook/hr_abc {version}", "Host: 127.0.0.1", "Content-Type: application/json", *framing]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


AMBIGUOUS_FRAMINGS = {
    "two differing Content-Length": ["Content-Length: 0", f"Content-Length: {len(SMUGGLED)}"],
    "Content-Length list": [f"Content-Length: 0, {len(SMUGGLED)}"],
    "Content-Length with chunked": ["Content-Length: 0", "Transfer-Encoding: chunked"],
    "chunked twice": ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
    "chunked not last": ["Transfer-Encoding: chunked, identity"],
    "unknown coding": ["Transfer-Encoding: gzip, chunked"],
    "signed Content-Length": ["Content-Length: +0"],
    "hex Content-Length": ["Content-Length: 0x0"],
    "superscript Content-Length": ["Content-Length: \u00b2"],
    "space before colon": ["Content-Length : 0"],
    "folded header": ["Content-Length: 0", " 5"],
}


WELL_FRAMED = {
    "Content-Length": (b"{}", ["Content-Length: 2"]),
    "chunked": (b"1\r\n{\r\n1\r\n}\r\n0\r\n\r\n", ["Transfer-Encoding: Chunked"]),
    "multipart content type": (b"{}", ["Content-Length: 2", "Content-Type: multipart/form-data; boundary=x"]),
    "empty header value": (b"{}", ["Content-Length: 2", "X-Empty:"]),
    "expecting 100-continue": (b"{}", ["Content-Length: 2", "Expect: 100-continue"]),
}


@pytest.mark.parametrize(("body", "framing"), WELL_FRAMED.values(), ids=WELL_FRAMED.keys())
def test_a_well_framed_request_reaches_its_function_whole(
    server: tuple[LocalApiServer, FakeFunctions], body: bytes, framing: list[str]
) -> None:
    api, functions = server

    answer = exchange(api, post(body, *framing, "Connection: close"))

    assert parse(answer.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n"))[0] == 202
    ((_, event),) = functions.events
    assert event["body"] == "{}"


@pytest.mark.parametrize("framing", AMBIGUOUS_FRAMINGS.values(), ids=AMBIGUOUS_FRAMINGS.keys())
def test_ambiguous_framing_is_refused_with_400_and_nothing_smuggled_runs(
    server: tuple[LocalApiServer, FakeFunctions], framing: list[str]
) -> None:
    api, functions = server

    answer = exchange(api, post(SMUGGLED, *framing))

    assert_refused(answer, 400, "BAD_REQUEST")
    assert functions.events == []


def test_chunked_framing_over_http_1_0_is_refused(server: tuple[LocalApiServer, FakeFunctions]) -> None:
    api, functions = server

    answer = exchange(api, post(b"2\r\n{}\r\n0\r\n\r\n", "Transfer-Encoding: chunked", version="HTTP/1.0"))

    assert_refused(answer, 400, "BAD_REQUEST")
    assert functions.events == []


def test_a_malformed_chunk_is_refused_and_not_run(server: tuple[LocalApiServer, FakeFunctions]) -> None:
    api, functions = server

    answer = exchange(api, post(b"zz\r\n{}\r\n0\r\n\r\n", "Transfer-Encoding: chunked"))

    assert_refused(answer, 400, "BAD_REQUEST")
    assert functions.events == []


@pytest.mark.parametrize(
    ("framing", "sent"),
    [(["Content-Length: 100"], b'{"abc":"4'), (["Transfer-Encoding: chunked"], b'20\r\n{"abc":"4')],
    ids=["content-length", "chunked"],
)
def test_a_body_cut_short_by_a_client_that_gives_up_is_never_run(
    server: tuple[LocalApiServer, FakeFunctions], framing: list[str], sent: bytes
) -> None:
    api, functions = server

    with connect(api) as connection:
        connection.sendall(post(sent, *framing))
        connection.shutdown(socket.SHUT_WR)  # the client gives up: nothing more will come
        read_to_end(connection)  # the server has done all it will do with this request

    assert functions.events == []


def test_a_body_that_stops_arriving_is_never_run(impatient: tuple[LocalApiServer, FakeFunctions]) -> None:
    api, functions = impatient

    with connect(api) as connection:
        connection.sendall(post(b'{"abc":"4', "Content-Length: 100"))
        read_to_end(connection)  # the client neither sends nor closes: the server ends the request

    assert functions.events == []


def test_an_idle_connection_is_closed(impatient: tuple[LocalApiServer, FakeFunctions]) -> None:
    api, _ = impatient

    with connect(api) as connection:
        assert read_to_end(connection) == b""


def test_a_kept_alive_connection_serves_requests_then_is_closed_when_idle(
    impatient: tuple[LocalApiServer, FakeFunctions],
) -> None:
    api, functions = impatient

    with connect(api) as connection:
        reader = connection.makefile("rb")
        for _ in range(2):
            connection.sendall(post(b"{}", "Content-Length: 2"))
            status_line = reader.readline()
            headers = {}
            while (line := reader.readline()) != b"\r\n":
                name, value = line.decode().split(":", 1)
                headers[name.strip().lower()] = value.strip()
            assert status_line.startswith(b"HTTP/1.1 202 ")
            assert "close" not in headers.get("connection", "")
            reader.read(int(headers["content-length"]))
        assert reader.read() == b""  # idle after its answers: the server closes it

    assert len(functions.events) == 2


def test_a_request_head_sent_too_slowly_is_cut_off(impatient: tuple[LocalApiServer, FakeFunctions]) -> None:
    api, functions = impatient
    head = post(b"{}", "Content-Length: 2")
    closed = False

    with connect(api) as connection:
        for byte in head:  # the whole would take over ten times the request bound
            try:
                connection.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(REQUEST_SECONDS / 8)
            try:
                closed = connection.recv(1, socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                continue
            except ConnectionResetError:
                closed = True
            if closed:
                break

    assert closed
    assert functions.events == []


MALFORMED_HEADS = {
    "one word": (b"GARBAGE\r\n\r\n", 400, "BAD_REQUEST"),
    "four words": (b"GET /pipeline/webhook/hr_secretToken HTTP/1.1 extra\r\n\r\n", 400, "BAD_REQUEST"),
    "bad version": (b"GET /pipeline/webhook/hr_secretToken HTTP/x.y\r\n\r\n", 400, "BAD_REQUEST"),
    "not HTTP": (b"GET /pipeline/webhook/hr_secretToken FTP/1.1\r\n\r\n", 400, "BAD_REQUEST"),
    "not a URL": (b"GET http://[/pipeline/webhook/hr_secretToken HTTP/1.1\r\n\r\n", 400, "BAD_REQUEST"),
    "HTTP/0.9": (b"GET /pipeline/webhook/hr_secretToken\r\n\r\n", 400, "BAD_REQUEST"),
    "HTTP/2": (b"GET /pipeline/webhook/hr_secretToken HTTP/2.0\r\n\r\n", 505, "HTTP_VERSION_NOT_SUPPORTED"),
    "long request line": (b"GET /hr_secretToken" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "URI_TOO_LONG"),
    "long header": (b"GET /hr_secretToken HTTP/1.1\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n", 431, "HEADERS_TOO_LARGE"),
    "many headers": (b"GET /hr_secretToken HTTP/1.1\r\n" + b"X-A: a\r\n" * 101 + b"\r\n", 431, "HEADERS_TOO_LARGE"),
}


@pytest.mark.parametrize(("head", "status", "code"), MALFORMED_HEADS.values(), ids=MALFORMED_HEADS.keys())
def test_a_malformed_request_head_gets_a_json_error_that_echoes_nothing(
    server: tuple[LocalApiServer, FakeFunctions], head: bytes, status: int, code: str
) -> None:
    api, functions = server

    answer = exchange(api, head)

    error = assert_refused(answer, status, code)
    assert "hr_secretToken" not in error["message"]
    assert functions.events == []
