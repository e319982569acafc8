"""Coalesced writes: one socket write per response, bytes and close kept in order."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any, ClassVar

import pytest
import uvicorn
import uvloop
from starlette.types import Receive, Scope, Send

from timesheets.coalesced_writes import HOLD_LIMIT, CoalescedHttpTools, CoalescedWrites
from timesheets.serve import _config


class Recorder:
    """A transport that records what reaches it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.calls.append(("close", None))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", None))
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def set_protocol(self, protocol: object) -> None:
        self.calls.append(("set_protocol", protocol))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name: str) -> str:
        return f"extra:{name}"


def wrapped() -> tuple[CoalescedWrites, Recorder]:
    recorder = Recorder()
    return CoalescedWrites(recorder, asyncio.get_running_loop()), recorder  # type: ignore[arg-type]


async def next_turn() -> None:
    await asyncio.sleep(0)


async def test_writes_of_one_turn_leave_together_at_its_end() -> None:
    coalesced, recorder = wrapped()
    coalesced.write(b"HTTP/1.1 200 OK\r\n\r\n")
    coalesced.write(bytearray(b"{}"))
    coalesced.writelines([b"a", memoryview(b"b")])
    assert recorder.calls == []
    await next_turn()
    assert recorder.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\n{}ab")]


async def test_past_the_hold_limit_writes_go_at_once() -> None:
    coalesced, recorder = wrapped()
    coalesced.write(b"h" * 100)
    coalesced.write(b"b" * HOLD_LIMIT)
    assert recorder.calls == [("write", b"h" * 100 + b"b" * HOLD_LIMIT)]
    coalesced.write(b"tail")
    assert coalesced.get_write_buffer_size() == 4
    await next_turn()
    assert recorder.calls[1:] == [("write", b"tail")]


async def test_writes_of_different_turns_leave_separately_in_order() -> None:
    coalesced, recorder = wrapped()
    coalesced.write(b"one")
    await next_turn()
    coalesced.write(b"two")
    await next_turn()
    assert recorder.calls == [("write", b"one"), ("write", b"two")]


async def test_close_sends_what_is_held_first() -> None:
    coalesced, recorder = wrapped()
    coalesced.write(b"last")
    coalesced.close()
    await next_turn()
    assert recorder.calls == [("write", b"last"), ("close", None)]


@pytest.mark.parametrize("method", ["write_eof", "set_protocol"])
async def test_half_close_and_upgrade_send_what_is_held_first(method: str) -> None:
    coalesced, recorder = wrapped()
    coalesced.write(b"head")
    getattr(coalesced, method)(*(["next"] if method == "set_protocol" else []))
    await next_turn()
    assert [name for name, _ in recorder.calls] == ["write", method]


async def test_abort_drops_what_is_held() -> None:
    coalesced, recorder = wrapped()
    coalesced.write(b"never")
    coalesced.abort()
    await next_turn()
    assert recorder.calls == [("abort", None)]


async def test_nothing_is_written_to_a_connection_that_is_closing() -> None:
    coalesced, recorder = wrapped()
    coalesced.write(b"too late")
    recorder.closing = True  # the peer went away within the turn
    await next_turn()
    assert recorder.calls == []


async def test_the_buffer_size_counts_held_bytes() -> None:
    coalesced, recorder = wrapped()
    recorder.buffered = 10
    assert coalesced.get_write_buffer_size() == 10
    coalesced.write(b"12345")
    assert coalesced.get_write_buffer_size() == 15
    await next_turn()
    assert coalesced.get_write_buffer_size() == 10


async def test_other_calls_reach_the_transport() -> None:
    coalesced, _ = wrapped()
    assert coalesced.get_extra_info("peername") == "extra:peername"


class Counted:
    """A real transport whose writes are counted on their way to the socket."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def write(self, data: bytes) -> None:
        CountingProtocol.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class CountingProtocol(CoalescedHttpTools):
    """The served protocol, counting the writes that reach the real socket transport."""

    writes: ClassVar[list[bytes]] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(Counted(transport))  # type: ignore[arg-type]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await receive()
    if scope["path"] == "/slow":
        time.sleep(0.02)  # noqa: ASYNC251 - work that holds the loop, as signing does
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"first,", b"second"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
        return
    body = b'{"ok":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"11")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def client(address: tuple[str, int], requests: bytes, half_close: bool) -> bytes:
    """A blocking client in a thread of its own, so that what it sends arrives while the
    server's loop is busy."""
    with socket.create_connection(address, timeout=10) as connection:
        connection.sendall(requests)
        if half_close:
            time.sleep(0.005)  # within the server's work on the request
            connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


async def served(requests: bytes, *, half_close: bool = False) -> bytes:
    """Send raw `requests` to a real uvicorn server on loopback; all it answers. With
    `half_close`, the client then shuts its sending side, as `nc -N` and some probes do."""
    config = _config(app)
    config.http = CountingProtocol
    config.lifespan = "off"
    server = uvicorn.Server(config)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    task = asyncio.create_task(server.serve(sockets=[listener]))  # the backlog holds us
    try:
        return await asyncio.to_thread(client, listener.getsockname(), requests, half_close)
    finally:
        server.should_exit = True
        await task


async def test_the_server_sends_a_whole_response_in_one_write() -> None:
    CountingProtocol.writes.clear()
    answer = await served(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b'\r\n\r\n{"ok":true}')
    assert CountingProtocol.writes == [answer]


async def test_pipelined_keep_alive_requests_each_get_their_whole_answer() -> None:
    CountingProtocol.writes.clear()
    request = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"
    answer = await served(request * 2 + b"HEAD / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert answer.count(b'{"ok":true}') == 2
    assert len(CountingProtocol.writes) == 3


async def test_a_streamed_body_leaves_as_it_is_produced() -> None:
    CountingProtocol.writes.clear()
    answer = await served(b"GET /stream HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert b"transfer-encoding: chunked" in answer
    assert answer.endswith(b"6\r\nfirst,\r\n6\r\nsecond\r\n0\r\n\r\n")
    # The head and the first chunk share a turn; each later chunk waited on the app.
    assert len(CountingProtocol.writes) == 3
    assert CountingProtocol.writes[0].endswith(b"6\r\nfirst,\r\n")


def test_the_services_are_served_with_coalesced_writes() -> None:
    assert _config(app).http is CoalescedHttpTools


def test_an_answer_reaches_a_client_that_half_closed_after_its_request() -> None:
    request = b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n"  # keep-alive: no close() flushes it
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # as the services run
        answers = [runner.run(served(request, half_close=True)) for _ in range(5)]
    assert all(answer.endswith(b'\r\n\r\n{"ok":true}') for answer in answers), answers
