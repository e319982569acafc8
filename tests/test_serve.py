"""The supervisor: its pace for starting dead workers again, and workers bound to CPUs."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.pg import free_port
from timesheets.serve import (
    RESTART_DELAY_FIRST,
    RESTART_DELAY_MAX,
    STEADY_SECONDS,
    bind_to_cpu,
    restart_delay,
    worker_cpus,
)

TIMESHEETS = str(Path(sys.executable).with_name("timesheets"))


def test_a_worker_that_ran_steadily_is_started_again_at_once() -> None:
    assert restart_delay(STEADY_SECONDS, RESTART_DELAY_MAX) == 0.0


@pytest.mark.parametrize(
    ("last", "expected"),
    [(0.0, RESTART_DELAY_FIRST), (RESTART_DELAY_FIRST, 2 * RESTART_DELAY_FIRST), (20.0, 30.0)],
)
def test_workers_that_die_young_wait_twice_as_long_each_time(last: float, expected: float) -> None:
    assert restart_delay(STEADY_SECONDS / 2, last) == expected


def test_workers_take_the_allowed_cpus_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {5, 0, 2})
    assert worker_cpus(2) == [0, 2]
    assert worker_cpus(3) == [0, 2, 5]


def test_more_workers_than_cpus_are_left_to_the_kernel(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    caplog.set_level("WARNING", logger="timesheets.serve")
    assert worker_cpus(3) == [None, None, None]
    assert [r.getMessage() for r in caplog.records] == [
        "more workers than CPUs: leaving their placement to the kernel"
    ]


def test_without_affinity_support_no_worker_is_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")
    assert worker_cpus(2) == [None, None]


def test_a_refused_binding_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_pid: int, _cpus: set[int]) -> None:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    assert bind_to_cpu(3) == "[Errno 22] Invalid argument"


def test_a_binding_holds_for_the_threads_started_after_it() -> None:
    cpu = min(os.sched_getaffinity(0))
    seen: dict[str, set[int]] = {}

    def bound_then_start_a_thread() -> None:
        seen["refused"] = {1} if bind_to_cpu(cpu) is not None else set()
        seen["self"] = os.sched_getaffinity(0)
        later = threading.Thread(target=lambda: seen.update(later=os.sched_getaffinity(0)))
        later.start()
        later.join()

    # In a thread of its own: binding affects the calling thread, not this test's.
    runner = threading.Thread(target=bound_then_start_a_thread)
    runner.start()
    runner.join()
    assert seen == {"refused": set(), "self": {cpu}, "later": {cpu}}


def workers_of(supervisor: int) -> list[int]:
    """The supervisor's worker processes (multiprocessing's spawned children), found by
    their parent in /proc/<pid>/stat."""
    workers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The parent is the second field after the command name, which may hold spaces.
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == supervisor and b"spawn_main" in command:
            workers.append(int(entry.name))
    return workers


def affinities_of_threads(pid: int) -> list[set[int]]:
    """The CPUs each thread of a process may run on (threads that end meanwhile skipped)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.append(os.sched_getaffinity(int(task.name)))
        except ProcessLookupError:
            continue
    return found


def started_api(tmp_path: Path, port: int, *flags: str) -> subprocess.Popen[bytes]:
    """`timesheets api --workers 2`, once both workers are ready (its log says so)."""
    log = tmp_path / "api.log"
    args = [TIMESHEETS, "api", "--workers", "2", "--port", str(port), *flags]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TIMESHEETS_")},
        "TIMESHEETS_API_ISSUER": "http://127.0.0.1:9",
        "TIMESHEETS_API_AUDIENCE": "https://api.timesheets.test",
        "TIMESHEETS_DATA_DIR": str(tmp_path),
    }
    with log.open("wb") as handle:
        process = subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if '"ready": 2' in log.read_text():
            return process
        time.sleep(0.1)
    process.kill()
    process.wait(timeout=30)
    pytest.fail(f"the API did not come up:\n{log.read_text()}")


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="binding workers to CPUs of their own needs two CPUs",
)
@pytest.mark.parametrize("flags", [(), ("--cpu-affinity", "off")])
def test_each_worker_runs_on_a_cpu_of_its_own_unless_turned_off(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    port = free_port()
    process = started_api(tmp_path, port, *flags)
    try:
        workers = workers_of(process.pid)
        bindings = [os.sched_getaffinity(pid) for pid in workers]
        # Readiness opens a database connection in the worker that serves it, whose
        # driver runs it in a thread started then, after the binding; each of these
        # connections goes to the worker serving the fewest, so both are asked.
        with httpx.Client(timeout=10) as first, httpx.Client(timeout=10) as second:
            for client in (first, second):
                client.get(f"http://127.0.0.1:{port}/readyz")
            threads = {pid: affinities_of_threads(pid) for pid in workers}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
    allowed = sorted(os.sched_getaffinity(0))
    assert len(workers) == 2
    assert all(len(found) > 1 for found in threads.values()), threads
    if flags:
        assert bindings == [set(allowed)] * 2
    else:
        assert sorted(bindings, key=min) == [{allowed[0]}, {allowed[1]}]
        for pid, bound in zip(workers, bindings, strict=True):
            assert threads[pid] == [bound] * len(threads[pid])
