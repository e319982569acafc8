"""The supervisor's dispatcher and the worker's server, each against a real loopback
listener and a real Unix socket pair, the test playing the other side."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from timesheets.balanced_accept import REPORT, Dispatcher, HandedServer, WorkerLink, channel_pair
from timesheets.serve import bind


class FakeWorker:
    """The worker's end of a channel, driven by the test."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        ours, self.end = channel_pair()
        self.end.settimeout(5)
        self.link = WorkerLink(ours)
        dispatcher.add(self.link)
        self.received: list[socket.socket] = []

    def report(self, adopted: int, open_now: int) -> None:
        self.end.send(REPORT.pack(adopted, open_now))

    def take(self) -> None:
        """Collect every connection handed so far."""
        self.end.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                _message, descriptors, _flags, _address = socket.recv_fds(self.end, 16, 16)
                self.received += [socket.socket(fileno=fd) for fd in descriptors]
        self.end.settimeout(5)


@pytest.fixture
def dispatcher() -> Iterator[Dispatcher]:
    found = Dispatcher(bind("127.0.0.1", 0))
    yield found
    found.close()


def port_of(dispatcher: Dispatcher) -> int:
    port: int = dispatcher.listener.getsockname()[1]
    return port


def connect(port: int, count: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]


def pump(dispatcher: Dispatcher, rounds: int = 5) -> None:
    for _ in range(rounds):
        dispatcher.run_once(0.05)


def two_workers(dispatcher: Dispatcher, open_at_second: int = 0) -> tuple[FakeWorker, FakeWorker]:
    """Two ready workers, the second with connections open already."""
    first, second = FakeWorker(dispatcher), FakeWorker(dispatcher)
    first.report(0, 0)
    second.report(0, open_at_second)
    pump(dispatcher, 1)
    return first, second


def burst(dispatcher: Dispatcher, count: int, *workers: FakeWorker) -> list[socket.socket]:
    """`count` clients connected and handed out, each worker having taken its share."""
    clients = connect(port_of(dispatcher), count)
    pump(dispatcher)
    for worker in workers:
        worker.take()
    return clients


def test_connections_go_to_the_worker_serving_the_fewest(dispatcher: Dispatcher) -> None:
    first, second = two_workers(dispatcher, open_at_second=3)
    clients = burst(dispatcher, 7, first, second)
    # Three to the idle worker make them even; the next four alternate.
    assert (len(first.received), len(second.received)) == (5, 2)
    assert [first.link.load(), second.link.load()] == [5, 5]

    # What a worker receives is the client's connection itself.
    clients[0].sendall(b"ping")
    assert first.received[0].recv(4) == b"ping"
    for sock in clients + first.received + second.received:
        sock.close()


def test_counts_that_arrive_with_a_burst_are_read_before_it_is_shared(
    dispatcher: Dispatcher,
) -> None:
    first, second = two_workers(dispatcher)
    clients = burst(dispatcher, 8, first, second)
    assert (len(first.received), len(second.received)) == (4, 4)

    # The first worker's clients leave just as a new burst arrives: the burst reaches
    # the port first, the counts a moment later, before the dispatcher wakes.
    late = connect(port_of(dispatcher), 4)
    first.report(4, 0)
    second.report(4, 4)
    pump(dispatcher)
    first.take()
    second.take()
    assert (len(first.received), len(second.received)) == (8, 4)
    for sock in clients + late + first.received + second.received:
        sock.close()


def test_no_connection_is_accepted_before_a_worker_is_ready(dispatcher: Dispatcher) -> None:
    worker = FakeWorker(dispatcher)
    clients = connect(port_of(dispatcher), 2)  # they wait in the listen backlog
    pump(dispatcher)
    worker.take()
    assert worker.received == []

    worker.report(0, 0)
    pump(dispatcher)
    worker.take()
    assert len(worker.received) == 2
    for sock in clients + worker.received:
        sock.close()


def test_a_worker_that_went_gets_nothing_more(
    dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    gone, alive = FakeWorker(dispatcher), FakeWorker(dispatcher)
    gone.report(0, 0)
    alive.report(0, 10)
    pump(dispatcher, 1)
    gone.end.close()  # the worker process died
    clients = connect(port_of(dispatcher), 3)
    pump(dispatcher)
    alive.take()
    assert len(alive.received) == 3
    assert not gone.link.ready

    # With no worker ready the dispatcher stops accepting: a client waits rather than
    # being closed.
    alive.end.close()
    pump(dispatcher, 1)
    late = connect(port_of(dispatcher), 1)
    pump(dispatcher)
    late[0].settimeout(0.2)
    with pytest.raises(TimeoutError):
        late[0].recv(1)
    assert "no worker could take a connection" not in caplog.text
    for sock in clients + late + alive.received:
        sock.close()


def test_readiness_is_logged_as_workers_come_up(
    dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="timesheets.serve")
    first, second = FakeWorker(dispatcher), FakeWorker(dispatcher)
    first.report(0, 0)
    pump(dispatcher, 1)
    second.report(0, 0)
    pump(dispatcher, 1)
    said = [r.__dict__["ready"] for r in caplog.records if r.getMessage() == "workers ready"]
    assert said == [1, 2]


def registered(dispatcher: Dispatcher) -> list[Any]:
    return [key.fileobj for key in dispatcher._selector.get_map().values()]


def test_a_burst_past_what_the_channels_hold_waits_instead_of_being_closed(
    dispatcher: Dispatcher,
) -> None:
    worker = FakeWorker(dispatcher)
    worker.link.channel.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)  # a few fit
    worker.report(0, 0)
    pump(dispatcher, 1)
    clients = connect(port_of(dispatcher), 40)
    pump(dispatcher)
    assert dispatcher.listener not in registered(dispatcher)  # the rest wait in the backlog
    worker.take()
    assert 0 < len(worker.received) < 40
    deadline = 200
    while len(worker.received) < 40 and deadline:
        pump(dispatcher, 1)
        worker.take()
        deadline -= 1
    assert len(worker.received) == 40
    for client, served in zip(clients, worker.received, strict=True):
        client.sendall(b"x")
        assert served.recv(1) == b"x"
    pump(dispatcher, 1)
    assert dispatcher.listener in registered(dispatcher)
    for sock in clients + worker.received:
        sock.close()


def test_a_closed_channel_is_no_longer_watched(dispatcher: Dispatcher) -> None:
    worker = FakeWorker(dispatcher)
    worker.report(0, 0)
    pump(dispatcher, 1)
    worker.end.close()
    pump(dispatcher, 1)
    assert not worker.link.ready
    assert worker.link.channel not in registered(dispatcher)
    dispatcher.remove(worker.link)  # as the supervisor does once the process has gone
    assert dispatcher.links == []


def test_once_it_stops_accepting_the_port_refuses(dispatcher: Dispatcher) -> None:
    worker = FakeWorker(dispatcher)
    worker.report(0, 0)
    pump(dispatcher, 1)
    port = port_of(dispatcher)
    dispatcher.stop_accepting()
    pump(dispatcher, 1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    )
    await send({"type": "http.response.body", "body": b"hello"})


class Worker:
    """A HandedServer in a thread, and the supervisor's end of its channel."""

    def __init__(self) -> None:
        self.supervisor, theirs = channel_pair()
        config = uvicorn.Config(hello, loop="asyncio", log_config=None, lifespan="on")
        self.server = HandedServer(config, theirs)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()))
        self.thread.start()

    def counts(self, timeout: float = 5) -> tuple[int, int]:
        """The worker's next report."""
        self.supervisor.settimeout(timeout)
        adopted, open_now = REPORT.unpack(self.supervisor.recv(REPORT.size))
        return adopted, open_now

    def hand(self, connection: socket.socket) -> None:
        socket.send_fds(self.supervisor, [b"c"], [connection.fileno()])
        connection.close()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.supervisor.close()


def accepted_pair(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = socket.create_connection(listener.getsockname(), timeout=5)
    served, _address = listener.accept()
    return client, served


def test_a_worker_serves_what_it_is_handed_and_reports_its_connections() -> None:
    worker = Worker()
    listener = bind("127.0.0.1", 0)
    try:
        assert worker.counts() == (0, 0)  # ready
        client, served = accepted_pair(listener)
        worker.hand(served)
        assert worker.counts() == (1, 1)
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b"hello"):
            answer += client.recv(1024)
        assert answer.startswith(b"HTTP/1.1 200")
        client.close()
        assert worker.counts() == (1, 0)  # heard of at once, not on a timer
    finally:
        listener.close()
        worker.stop()


def test_a_worker_stops_when_its_supervisor_goes() -> None:
    worker = Worker()
    assert worker.counts() == (0, 0)
    worker.supervisor.close()
    worker.thread.join(timeout=10)
    assert not worker.thread.is_alive()
