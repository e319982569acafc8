"""Connections spread evenly over the workers: the supervisor accepts, the workers serve.

With one SO_REUSEPORT socket per worker the kernel picks a worker by a hash of each
connection's addresses, blind to how many it already holds: sixteen keep-alive
connections opened together landed 8/8 in some benchmark runs and 9/7 or 10/6 in others,
and the busier worker then set the pace (docs/benchmarks.md, "Connections handed to the
least busy worker"). uvicorn's own workers share one listening socket instead, where the
first worker to wake takes a whole burst. Neither it nor the standard library hands
connections out by load, so it is written here.

The supervisor alone listens. It accepts each connection and passes its descriptor
(`SCM_RIGHTS` over a Unix socket pair, one message per connection) to the ready worker
serving the fewest, which adopts it into its event loop. A worker reports, when it is
ready and whenever a connection arrives or closes, how many connections it has adopted
in all and how many are open; the supervisor counts the ones handed since as open too. A worker
stops when its supervisor goes, as the supervisor's end of the pair then reads as closed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import selectors
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn

log = logging.getLogger("timesheets.serve")

REPORT = struct.Struct("!QQ")  # connections adopted in all, connections open now
RETRY_SECONDS = 0.005
# A channel whose worker has gone; any other failure to hand a connection is passing.
GONE = frozenset({errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF})
ACCEPTS_PER_WAKE = 64


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """The supervisor's and the worker's ends of a message-preserving Unix socket pair."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    return ours, theirs


@dataclass
class WorkerLink:
    """The supervisor's view of one worker: its channel and what it last reported."""

    channel: socket.socket
    ready: bool = False
    gone: bool = False
    handed: int = 0
    adopted: int = 0
    open: int = 0

    def load(self) -> int:
        """Connections open at the worker, counting those handed and not yet adopted."""
        return self.open + self.handed - self.adopted

    def read_reports(self) -> bool:
        """Take the worker's waiting reports; False once its end has closed."""
        while True:
            try:
                message = self.channel.recv(REPORT.size)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            if len(message) != REPORT.size:
                return False
            self.adopted, self.open = REPORT.unpack(message)
            self.ready = True

    def hand(self, connection: socket.socket) -> bool:
        """Pass `connection` to the worker; False when its channel cannot take it now."""
        try:
            socket.send_fds(self.channel, [b"c"], [connection.fileno()])
        except OSError as error:
            if error.errno in GONE:
                self.ready = False
            return False  # full for now (EAGAIN, or too many descriptors in flight)
        self.handed += 1
        return True


@dataclass
class Dispatcher:
    """The supervisor's side: accepts on `listener`, hands each connection to a worker.

    When no worker's channel can take a connection (a burst while every worker is busy),
    the connection waits here and the dispatcher stops accepting: further ones wait in
    the listen backlog, as they would with no dispatcher, instead of being closed.
    """

    listener: socket.socket
    links: list[WorkerLink] = field(default_factory=list)
    _selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector, init=False)
    _waiting: collections.deque[socket.socket] = field(
        default_factory=collections.deque, init=False
    )
    _listening: bool = field(default=False, init=False)
    _ready: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.listener.setblocking(False)

    def add(self, link: WorkerLink) -> None:
        """Start reading a new worker's reports."""
        self.links.append(link)
        self._selector.register(link.channel, selectors.EVENT_READ, link)

    def remove(self, link: WorkerLink) -> None:
        """Forget a worker that has gone."""
        if link in self.links:
            self.links.remove(link)
        self._unregister(link.channel)
        link.channel.close()

    def run_once(self, timeout: float) -> None:
        """Wait up to `timeout` seconds (a few ms while connections wait for a worker's
        channel to drain) and handle what arrived."""
        events = self._selector.select(RETRY_SECONDS if self._waiting else timeout)
        self._read_reports()
        if any(key.data is None for key, _events in events):
            self._accept()
        self._hand_waiting()
        self._listen_while_a_worker_is_ready()
        ready = sum(link.ready for link in self.links)
        if ready > self._ready:
            log.info("workers ready", extra={"ready": ready, "workers": len(self.links)})
        self._ready = ready

    def stop_accepting(self) -> None:
        """Close the port: new connections are refused from now on."""
        self._stop_listening()
        self.listener.close()

    def close(self) -> None:
        """Close the port, the connections not yet handed and every channel (a worker
        whose channel closes stops)."""
        self.stop_accepting()
        while self._waiting:
            self._waiting.popleft().close()
        for link in list(self.links):
            self.remove(link)
        self._selector.close()

    def _read_reports(self) -> None:
        """Every worker's latest counts, before any connection is handed: a burst that
        follows closes (a client's pool renewed) is then shared by what is open now."""
        for link in self.links:
            if not link.gone and not link.read_reports():
                link.ready = False
                link.gone = True
                self._unregister(link.channel)  # its end is closed: read no more

    def _unregister(self, channel: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(channel)

    def _listen_while_a_worker_is_ready(self) -> None:
        # Until a worker is ready, and while connections wait for one, new connections
        # wait in the listen backlog.
        if any(link.ready for link in self.links) and not self._waiting:
            if not self._listening and self.listener.fileno() >= 0:
                self._selector.register(self.listener, selectors.EVENT_READ, None)
                self._listening = True
        else:
            self._stop_listening()

    def _stop_listening(self) -> None:
        if self._listening:
            self._selector.unregister(self.listener)
            self._listening = False

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            if self._waiting or self.listener.fileno() < 0:
                return
            try:
                connection, _address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # the client reset it first, or out of descriptors
                log.warning("accept failed", extra={"reason": str(error)})
                return
            if self._hand(connection):
                connection.close()
            else:
                self._waiting.append(connection)

    def _hand_waiting(self) -> None:
        while self._waiting and self._hand(self._waiting[0]):
            self._waiting.popleft().close()

    def _hand(self, connection: socket.socket) -> bool:
        ready = sorted((link for link in self.links if link.ready), key=WorkerLink.load)
        return any(link.hand(connection) for link in ready)


class _Watched(set[Any]):
    """uvicorn's set of a worker's open connections, calling `left` when one leaves it."""

    def __init__(self, left: Callable[[], None]) -> None:
        super().__init__()
        self.left = left

    def discard(self, element: Any) -> None:
        """Remove `element` if present, then tell."""
        super().discard(element)
        self.left()


class HandedServer(uvicorn.Server):
    """A uvicorn server that serves the connections its supervisor hands it."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel
        self.adopted = 0
        self._reported: tuple[int, int] | None = None
        self._report_due = False
        # The protocol leaves this set when its connection closes: uvicorn's httptools, h11
        # and websocket protocols all call `discard` in `connection_lost` (uvicorn 0.54),
        # so the supervisor hears of it at once.
        self.server_state.connections = _Watched(self._report_soon)

    async def startup(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """Start the app, then take connections from the channel."""
        await super().startup(sockets=[])
        loop = asyncio.get_running_loop()
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._receive)
        self._report()

    async def shutdown(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """Take no more connections, then let uvicorn finish the open ones."""
        self._close_channel()
        await super().shutdown(sockets=None)

    def _close_channel(self) -> None:
        if self.channel.fileno() < 0:
            return
        asyncio.get_running_loop().remove_reader(self.channel.fileno())
        self.channel.close()

    def _receive(self) -> None:
        while self.channel.fileno() >= 0:
            try:
                message, descriptors, _flags, _address = socket.recv_fds(self.channel, 16, 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message, descriptors = b"", []
            if not message and not descriptors:
                if not self.should_exit:
                    log.warning("the supervisor has gone; stopping")
                self._close_channel()
                self.should_exit = True
                return
            for descriptor in descriptors:
                self._adopt(socket.socket(fileno=descriptor))

    def _adopt(self, connection: socket.socket) -> None:
        if self.should_exit:
            connection.close()
            return
        loop = asyncio.get_running_loop()
        adopting = loop.create_task(loop.connect_accepted_socket(self._protocol, connection))
        adopting.add_done_callback(self._adopted)

    def _protocol(self) -> asyncio.Protocol:
        # As uvicorn's own `startup` builds the protocol for a connection it accepts.
        protocol: asyncio.Protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        return protocol

    def _adopted(self, adopting: asyncio.Task[Any]) -> None:
        self.adopted += 1
        error = None if adopting.cancelled() else adopting.exception()
        if error is not None:
            log.warning("a handed connection failed", extra={"reason": str(error)})
        self._report_soon()

    def _report_soon(self) -> None:
        """Report once the current turn of the loop is over (many may close in one)."""
        if not self._report_due:
            self._report_due = True
            asyncio.get_running_loop().call_soon(self._report)

    def _report(self) -> None:
        """Send the counts to the supervisor if they changed."""
        self._report_due = False
        if self.channel.fileno() < 0:
            return
        counts = (self.adopted, len(self.server_state.connections))
        if counts != self._reported:
            with contextlib.suppress(OSError):  # full for now, or the supervisor gone
                self.channel.send(REPORT.pack(*counts))
                self._reported = counts
