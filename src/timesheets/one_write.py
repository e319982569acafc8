"""uvicorn's httptools protocol, sending a response's head together with its first body part.

uvicorn writes the status line and headers as soon as the app starts its response, then
the body in a second write: two system calls and two TCP segments for every small JSON
answer, each of which the kernel carries through loopback and the client reads apart.
Here the head is held until the body's first write and leaves with it. When a body
message writes nothing (a HEAD request), the head is written alone once uvicorn has
handled it, or first when uvicorn closes the connection in it. Two things differ from
uvicorn's own protocol:

- an app that fails (or returns) after starting its response but before any body leaves
  its client with a closed connection and no answer at all, where uvicorn would have
  sent a head and then closed: no half answer that looks like a success;
- a client that went away before the body gets nothing written to its closed transport.

uvicorn has no setting for this, hence this subclass of its protocol. It relies on how
uvicorn 0.54's `RequestResponseCycle.send` writes (pinned in pyproject.toml; the tests
in tests/test_one_write.py check the write boundaries).
"""

from __future__ import annotations

import weakref
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class _Held:
    """Stands in for the transport while uvicorn writes a head: keeps the bytes."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data


class _Prefixed:
    """Stands in for the transport while uvicorn handles the body: the first write, or a
    close, carries the held head first."""

    __slots__ = ("head", "transport")

    def __init__(self, transport: Any, head: bytes) -> None:
        self.transport = transport
        self.head = head

    def write(self, data: bytes) -> None:
        head, self.head = self.head, b""
        self.transport.write(head + data)

    def flush(self) -> None:
        if self.head:
            self.write(b"")

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return bool(self.transport.is_closing())


class _HeadWithBody:
    """A cycle's ASGI `send`, holding the head that uvicorn writes for the start message.

    It refers to its cycle weakly: the cycle refers to it (its `send`), and a reference
    cycle would keep every finished request's scope and body until the garbage collector
    runs, where reference counting frees them at once.
    """

    __slots__ = ("cycle", "head")

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self.cycle = weakref.ref(cycle)
        self.head = b""

    async def __call__(self, message: Any) -> None:
        cycle = self.cycle()
        if cycle is None:
            raise RuntimeError("send was called after its request had ended")
        transport = cycle.transport
        if message["type"] == "http.response.start" and not cycle.response_started:
            if cycle.flow.write_paused:
                # uvicorn would wait for the client to drain first; while it waits, the
                # request's own `receive` may use the transport, so nothing stands in.
                await RequestResponseCycle.send(cycle, message)
                return
            held = _Held()
            cycle.transport = cast(Any, held)
            try:
                await RequestResponseCycle.send(cycle, message)
            finally:
                cycle.transport = transport
            self.head = held.data
            return
        if not self.head:
            await RequestResponseCycle.send(cycle, message)
            return
        prefixed = _Prefixed(transport, self.head)
        self.head = b""
        cycle.transport = cast(Any, prefixed)
        try:
            await RequestResponseCycle.send(cycle, message)
        finally:
            cycle.transport = transport
            if not (cycle.disconnected or transport.is_closing()):
                prefixed.flush()


class OneWriteProtocol(HttpToolsProtocol):
    """HTTP/1.1 over httptools with each response's head and first body part in one write."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        # The instance attribute shadows the method for this request's cycle only.
        cycle.send = _HeadWithBody(cycle)  # type: ignore[method-assign]
        super()._start_asgi_task(cycle, app)
