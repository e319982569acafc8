"""A response's head leaves with its first body part; every other behaviour is uvicorn's."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from uvicorn.server import ServerState

from timesheets.one_write import OneWriteProtocol

JSON_BODY = b'{"ok":true}'
SEND_ERRORS: list[BaseException] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers by path: a JSON body, a streamed body, failures before and after the head."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/echo":
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await _json(send, body)
        return
    if path == "/fail-before":
        raise RuntimeError("before the head")
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/slow":  # the client may go away between the head and the body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.05)
        try:
            await send({"type": "http.response.body", "body": b"late"})
        except BaseException as error:
            SEND_ERRORS.append(error)
            raise
        return
    if path == "/fail-after":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("after the head")
    await _json(send, JSON_BODY)


async def _json(send: Any, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RecordingTransport(asyncio.Transport):
    """The socket's place in the unit tests: records each write as the kernel would get it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5000)}.get(name)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:  # as uvloop's transport does
            raise RuntimeError("unable to perform operation on a closed transport")
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def exchange(
    request: bytes, *, paused: bool = False, lost_after: float | None = None
) -> RecordingTransport:
    """One request through the protocol; the writes it made once the app has finished."""
    config = uvicorn.Config(app, lifespan="off", log_config=None)
    config.load()
    protocol = OneWriteProtocol(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    if paused:
        protocol.pause_writing()
        asyncio.get_running_loop().call_later(0.05, protocol.resume_writing)
    protocol.data_received(request)
    if lost_after is not None:
        await asyncio.sleep(lost_after)
        transport.close()
        protocol.connection_lost(None)
    for _ in range(100):
        await asyncio.sleep(0.005)
        if not protocol.tasks:
            break
    protocol.connection_lost(None)
    return transport


def get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


async def test_the_head_and_body_leave_in_one_write() -> None:
    transport = await exchange(get("/"))
    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 11" in head
    assert body == JSON_BODY


async def test_a_head_request_gets_its_head_alone() -> None:
    transport = await exchange(get("/", "HEAD"))
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\n")


async def test_a_streamed_body_sends_its_head_with_the_first_part_then_each_part() -> None:
    transport = await exchange(get("/stream"))
    first = transport.writes[0]
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"transfer-encoding: chunked" in first
    assert first.endswith(b"\r\n\r\n4\r\none,\r\n")
    assert transport.writes[1:] == [b"4\r\ntwo,\r\n", b"5\r\nthree\r\n", b"0\r\n\r\n"]


async def test_an_app_failing_before_its_head_answers_500_in_one_write() -> None:
    transport = await exchange(get("/fail-before"))
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert transport.writes[0].endswith(b"Internal Server Error")
    assert transport.closed


async def test_an_app_failing_after_its_head_closes_the_connection_without_a_half_answer() -> None:
    transport = await exchange(get("/fail-after"))
    assert transport.writes == []
    assert transport.closed


async def test_a_client_gone_before_the_body_gets_nothing_and_the_app_no_error() -> None:
    SEND_ERRORS.clear()
    transport = await exchange(get("/slow"), lost_after=0.01)
    assert transport.writes == []
    assert SEND_ERRORS == []


@pytest.mark.parametrize(
    "request_bytes",
    [b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", b"GET / HTTP/1.0\r\n\r\n"],
    ids=["connection close", "HTTP/1.0"],
)
async def test_a_last_response_leaves_whole_before_the_connection_closes(
    request_bytes: bytes,
) -> None:
    transport = await exchange(request_bytes)
    assert len(transport.writes) == 1
    assert b"connection: close\r\n" in transport.writes[0]
    assert transport.writes[0].endswith(b"\r\n\r\n" + JSON_BODY)
    assert transport.closed


async def test_a_finished_request_is_freed_without_the_garbage_collector() -> None:
    config = uvicorn.Config(app, lifespan="off", log_config=None)
    config.load()
    protocol = OneWriteProtocol(config=config, server_state=ServerState(), app_state={})
    protocol.connection_made(RecordingTransport())
    gc.disable()
    try:
        protocol.data_received(get("/"))
        cycle = weakref.ref(protocol.cycle)
        for _ in range(100):
            await asyncio.sleep(0.005)
            if not protocol.tasks:
                break
        protocol.data_received(get("/"))  # the protocol now holds the next request's cycle
        await asyncio.sleep(0.01)
        assert cycle() is None
    finally:
        gc.enable()


async def test_a_head_while_the_client_is_not_reading_is_written_at_once_after_the_wait() -> None:
    transport = await exchange(get("/"), paused=True)
    assert len(transport.writes) == 2
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\n")
    assert transport.writes[1] == JSON_BODY


@pytest.fixture
def server() -> Iterator[int]:
    """uvicorn with the protocol on a free loopback port, in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(app, http=OneWriteProtocol, lifespan="off", log_config=None)
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if instance.started:
            break
        threading.Event().wait(0.02)
    yield port
    instance.should_exit = True
    thread.join(timeout=10)
    sock.close()


def test_a_client_library_reads_answers_over_a_kept_alive_connection(server: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{server}") as client:
        for _ in range(3):
            response = client.get("/")
            assert response.status_code == 200
            assert response.json() == {"ok": True}
        assert client.head("/").headers["content-length"] == "11"
        assert client.get("/stream").text == "one,two,three"
        assert client.post("/echo", content=b'{"a":1}').content == b'{"a":1}'


def _read_until(conn: socket.socket, marker: bytes, count: int = 1) -> bytes:
    data = b""
    while data.count(marker) < count:
        part = conn.recv(65536)
        if not part:
            break
        data += part
    return data


def test_pipelined_requests_are_answered_in_order(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as conn:
        conn.sendall(get("/") + get("/stream") + get("/"))
        data = _read_until(conn, JSON_BODY, 2)
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.index(b"one,") < data.rindex(JSON_BODY)
    assert data.endswith(JSON_BODY)


def test_expect_100_continue_still_gets_its_interim_answer_first(server: int) -> None:
    body = b'{"n":7}'
    head = (
        b"POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection(("127.0.0.1", server), timeout=5) as conn:
        conn.sendall(head)
        interim = _read_until(conn, b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(body)
        answer = _read_until(conn, body)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(body)
