"""One socket write per response: uvicorn's HTTP protocol with coalesced transport writes.

uvicorn writes a response's head when the app sends `http.response.start` and its body
when the app sends `http.response.body`: two `send()` calls, and with `TCP_NODELAY` two
TCP segments, for a response that fits in one. Each segment costs a system call here and
a wake-up and a read at the client. On the token endpoint that was about a tenth of the
throughput: a bare signing app served 5,540-5,660 tokens/s with two writes and
6,110-6,330 with one (same run, alternating). uvicorn has no option for it, so this
module holds the writes made during one turn of the event loop and sends them together
at the end of that turn. Nothing waits longer than the turn in which it was written, and
the order of bytes and of `close()` is kept. Past `HOLD_LIMIT` bytes the writes go at
once, so a large body meets the transport's flow control as it did without this. The
tests run a real server of the locked uvicorn and count the writes that reach the socket.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HOLD_LIMIT = 64 * 1024


class CoalescedWrites:
    """A transport wrapper that joins the writes of one event-loop turn into one write."""

    __slots__ = ("_held", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        self._held = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hold `data` until the end of this loop turn, after anything written before it."""
        if self._pending is None:
            self._pending = [bytes(data)]
            self._held = len(data)
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(bytes(data))
            self._held += len(data)
        if self._held > HOLD_LIMIT:
            self.flush()

    def writelines(self, lines: Any) -> None:
        """Hold each of `lines`, as `write` does."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Send what is held now, as one write; dropped when the connection is closing."""
        pending, self._pending = self._pending, None
        if not pending or self._transport.is_closing():
            return
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def get_write_buffer_size(self) -> int:
        """Bytes not yet sent: those held here and those in the transport's buffer."""
        held = self._held if self._pending else 0
        return held + self._transport.get_write_buffer_size()

    def close(self) -> None:
        """Send what is held, then close (uvicorn closes right after a last write)."""
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        """Send what is held, then half-close."""
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        """Drop what is held and abort the connection."""
        self._pending = None
        self._transport.abort()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Send what is held before another protocol (an upgrade) takes over."""
        self.flush()
        self._transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol whose responses leave in one write per loop turn."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.coalesced = CoalescedWrites(transport, self.loop)
        super().connection_made(self.coalesced)  # type: ignore[arg-type]

    def eof_received(self) -> None:
        """The client half-closed: what is held goes now, since the loop closes the
        transport on return (an answer held for the turn's end would be dropped)."""
        self.coalesced.flush()
        super().eof_received()
