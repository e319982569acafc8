"""Serving an ASGI app with N worker processes.

Written here rather than using uvicorn's `--workers` because uvicorn shares one
listening socket between workers, and the kernel then often hands most connections of a
keep-alive load to one worker. Here the parent listens and hands each connection to the
worker serving the fewest (`balanced_accept`). It restarts a worker that dies and
forwards SIGTERM/SIGINT so that each worker finishes its in-flight requests.

With `pin` and no more workers than CPUs, each worker is bound to one CPU, as nginx's
`worker_cpu_affinity auto` does: worker i to the i-th CPU the supervisor may use. An API
worker runs two busy threads (the event loop and the group-commit writer) that share one
GIL; kept on one CPU they no longer pass the interpreter's state between two CPUs'
caches. On the project's two-CPU machine the durable-write benchmark ran 2.6 % faster
bound by the supervisor and 8 % bound from outside (alternating runs,
docs/benchmarks.md), and the token endpoint the same.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
import uvloop

from timesheets.balanced_accept import Dispatcher, HandedServer, WorkerLink, channel_pair
from timesheets.coalesced_writes import CoalescedHttpTools
from timesheets.logging import configure

log = logging.getLogger("timesheets.serve")
RESTART_DELAY_FIRST = 0.5
RESTART_DELAY_MAX = 30.0
STEADY_SECONDS = 10.0

AppFactory = Callable[[], Any]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # uvicorn writes a response's head and body separately; with Nagle's algorithm on, the
    # body waits for the peer's delayed ACK (about 40 ms). Accepted sockets inherit this.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        loop="uvloop",
        http=CoalescedHttpTools,
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=30,
        server_header=False,
    )


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop: `asyncio.run` would make a plain asyncio loop, whatever the config says."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def _worker(factory: AppFactory, channel: socket.socket, cpu: int | None = None) -> None:
    # Bound before any thread starts: the threads it starts later (the group-commit
    # writer, the database drivers') inherit the binding.
    refused = None if cpu is None else bind_to_cpu(cpu)
    configure()
    if refused is not None:
        log.warning("cannot bind the worker to a CPU", extra={"cpu": cpu, "reason": refused})
    elif cpu is not None:
        log.info("worker bound to a CPU", extra={"cpu": cpu})
    server = HandedServer(_config(factory()), channel)
    gc.freeze()  # the app's long-lived objects: kept out of every later collection's scan
    _run(server.serve())


def serve(factory: AppFactory, host: str, port: int, workers: int, *, pin: bool = False) -> None:
    """Serve in this process (one worker) or supervise `workers` processes, each bound to
    a CPU of its own when `pin` and there are CPUs enough (`worker_cpus`)."""
    if workers == 1:
        sock = bind(host, port)
        log.info("listening", extra={"host": host, "port": sock.getsockname()[1]})
        _run(uvicorn.Server(_config(factory())).serve(sockets=[sock]))
        return
    metrics_dir = _metrics_dir()
    context = multiprocessing.get_context("spawn")
    dispatcher = Dispatcher(bind(host, port))
    stopping = False

    cpus = worker_cpus(workers) if pin else [None] * workers

    def start(index: int, delay: float = 0.0) -> _Slot:
        ours, theirs = channel_pair()
        process = context.Process(target=_worker, args=(factory, theirs, cpus[index]), daemon=False)
        process.start()
        theirs.close()
        link = WorkerLink(ours)
        dispatcher.add(link)
        return _Slot(process, link, time.monotonic(), delay)

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        dispatcher.stop_accepting()  # refused from now on, not handed to a stopping worker
        for slot in slots:
            if slot.process.pid is not None and slot.process.is_alive():
                slot.process.terminate() if signum == signal.SIGTERM else slot.process.kill()

    slots = [start(index) for index in range(workers)]
    log.info(
        "listening",
        extra={"host": host, "port": dispatcher.listener.getsockname()[1], "workers": workers},
    )
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, lambda s, f: stop(signal.SIGTERM, f))
    while not stopping:
        dispatcher.run_once(0.5)
        now = time.monotonic()
        for index, slot in enumerate(slots):
            if stopping:
                break
            if slot.due is None and not slot.process.is_alive():
                slot.delay = restart_delay(now - slot.started, slot.delay)
                slot.due = now + slot.delay
                dispatcher.remove(slot.link)
                log.error(
                    "worker died; restarting",
                    extra={"exitcode": slot.process.exitcode, "delay_seconds": slot.delay},
                )
            if slot.due is not None and now >= slot.due:
                slots[index] = start(index, slot.delay)
    for slot in slots:
        slot.process.join(timeout=35)
        if slot.process.is_alive():
            slot.process.kill()
    dispatcher.close()
    if metrics_dir is not None:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def worker_cpus(workers: int) -> list[int | None]:
    """The CPU each worker is bound to: the i-th CPU this process may use for worker i.
    None for all when there are more workers than CPUs (bound in turn, two workers would
    share a CPU while connections are shared per worker, leaving another CPU half idle)
    or when the system cannot bind."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not allowed:
        return [None] * workers
    if workers > len(allowed):
        log.warning(
            "more workers than CPUs: leaving their placement to the kernel",
            extra={"workers": workers, "cpus": len(allowed)},
        )
        return [None] * workers
    return list[int | None](allowed[:workers])


def bind_to_cpu(cpu: int) -> str | None:
    """Bind the calling thread, and the threads it starts from now on, to `cpu`; the
    system's reason when it refuses (the worker then runs unbound)."""
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as error:
        return str(error)
    return None


@dataclass
class _Slot:
    """One worker process of the supervisor, and when a dead one is started again."""

    process: multiprocessing.process.BaseProcess
    link: WorkerLink
    started: float
    delay: float  # the wait before its last start; the next one doubles it if it dies young
    due: float | None = None


def restart_delay(lived: float, last: float) -> float:
    """Seconds to wait before starting a dead worker again: none after one that ran for
    STEADY_SECONDS, else twice the last wait (RESTART_DELAY_FIRST up to
    RESTART_DELAY_MAX), so that a worker that cannot start is not restarted in a loop."""
    if lived >= STEADY_SECONDS:
        return 0.0
    return min(max(RESTART_DELAY_FIRST, 2 * last), RESTART_DELAY_MAX)


def _metrics_dir() -> Path | None:
    """A fresh folder where the workers write their metrics (prometheus-client's
    multiprocess mode), unless the operator named one; set before any worker starts."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    folder = Path(tempfile.mkdtemp(prefix="timesheets-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return folder
