"""Helpers shared by the benchmarks: processes, readiness, wrk, openssl and machine facts.

Every load goes to 127.0.0.1 and every run is bounded in time. Every process started
here runs in its own process group, and `Processes.stop_all()` ends each group it started
(SIGTERM, then SIGKILL after a grace period), also on Ctrl-C or an exception.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
LUA_DIR = BENCH_DIR / "lua"
REPO = BENCH_DIR.parent


def stop_on_signals() -> None:
    """Turn SIGINT, SIGTERM and SIGHUP into SystemExit, so every `finally` that stops
    what a benchmark started still runs."""

    def _raise_exit(signum: int, _frame: FrameType | None) -> None:
        say(f"interrupted by signal {signum}; stopping what this benchmark started")
        raise SystemExit(128 + signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_exit)


def default_peers_dir() -> Path:
    """`TIMESHEETS_PEERS_DIR`, else shared/peers beside the repository."""
    configured = os.environ.get("TIMESHEETS_PEERS_DIR")
    return Path(configured) if configured else REPO.parent / "shared" / "peers"


def mark(ok: bool) -> str:
    """PASS or MISS, beside a figure and its target."""
    return "PASS" if ok else "MISS"


def add_run_options(parser: argparse.ArgumentParser, what: str) -> None:
    """The options every load benchmark shares: rounds, wrk's settings, our workers,
    --postgres, --json, --check and --keep (`what` names our service in the help)."""
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument(
        "--duration", type=int, default=10, help="measured seconds per run (default 10)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "--workers", type=int, default=2, help=f"{what}'s worker processes (default 2)"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help=f"also measure {what} on a throw-away durable PostgreSQL (bench/pg.py)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 3 when a target is missed"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")


def check_run_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> LoadSpec:
    """Refuse out-of-range values of `add_run_options`; the wrk settings they give."""
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds must be 1..10")
    if not 1 <= args.duration <= 60:
        parser.error("--duration must be 1..60 seconds")
    if not 0 <= args.warmup <= 30:
        parser.error("--warmup must be 0..30 seconds")
    if not 1 <= args.connections <= 512:
        parser.error("--connections must be 1..512")
    if not 1 <= args.threads <= args.connections:
        parser.error("--threads must be 1..connections")
    return LoadSpec(args.threads, args.connections, args.warmup, args.duration)


def say(message: str) -> None:
    """Progress on standard error, so standard output keeps only the results."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether something accepts connections on the loopback port."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


# -- processes ---------------------------------------------------------------------------


@dataclass
class Managed:
    """A process started in its own group, with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    @property
    def pgid(self) -> int:
        """The process group: the leader's pid (start_new_session)."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether the group leader is still running."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """The end of the process's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Processes:
    """The process groups this benchmark started; stops them all on exit."""

    started: list[Managed] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> Managed:
        """Start `argv` in a new session (so a new process group), output to `log_path`."""
        log_file = log_path.open("wb")
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        managed = Managed(name, popen, log_path, log_file)
        self.started.append(managed)
        return managed

    def stop(self, managed: Managed, grace: float = 10.0) -> None:
        """SIGTERM the process group, wait up to `grace` s, then SIGKILL what is left."""
        _signal_group(managed.pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and (managed.alive() or _group_alive(managed.pgid)):
            time.sleep(0.05)
        _signal_group(managed.pgid, signal.SIGKILL)
        try:
            managed.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            say(f"{managed.name} (pid {managed.popen.pid}) did not exit after SIGKILL")
        managed.log_file.close()
        if managed in self.started:
            self.started.remove(managed)

    def stop_all(self) -> None:
        """Stop every group still running, newest first."""
        for managed in reversed(list(self.started)):
            self.stop(managed, grace=5.0)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return bool(group_pids(pgid))


def group_pids(pgid: int) -> list[int]:
    """The live, non-zombie processes of a process group (from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _proc_stat(int(entry))
        if fields is not None and fields[2] != "Z" and int(fields[4]) == pgid:
            pids.append(int(entry))
    return pids


def _proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat split into fields; fields[0] is the pid, [1] the command."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    head, _, tail = raw.rpartition(")")
    pid_text, _, command = head.partition(" (")
    return [pid_text, command, *tail.split()]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the group's live processes (and their reaped children)."""
    total = 0
    for pid in group_pids(pgid):
        fields = _proc_stat(pid)
        if fields is not None:
            # utime, stime, cutime, cstime: fields 14-17 in proc(5), 1-based.
            total += sum(int(v) for v in fields[13:17])
    return total / CLOCK_TICKS


def machine_busy_fraction(seconds: float = 1.0) -> float:
    """Share of all CPUs that were busy over `seconds` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = values[3] + values[4]
        return sum(values), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_http(url: str, managed: Managed, *, timeout: float, expect: int | None = None) -> None:
    """Poll `url` until it answers (with `expect`, when given) or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not managed.alive():
            raise RuntimeError(
                f"{managed.name} exited with {managed.popen.returncode} before it was ready:\n"
                f"{managed.log_tail()}"
            )
        try:
            response = httpx.get(url, timeout=2)
        except httpx.HTTPError as error:
            last = repr(error)
        else:
            if expect is None or response.status_code == expect:
                return
            last = f"HTTP {response.status_code}"
        time.sleep(0.1)
    raise RuntimeError(
        f"{managed.name} not ready at {url} after {timeout:.0f} s ({last}):\n{managed.log_tail()}"
    )


LISTEN, ESTABLISHED = "0A", "01"  # TCP states as /proc/net/tcp writes them


def tcp_sockets(port: int) -> list[tuple[str, str]]:
    """(state, inode) of every TCP socket whose local port is `port` (/proc/net/tcp, tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.append((fields[3], fields[9]))
    return found


def listening_sockets(port: int) -> int:
    """How many TCP sockets listen on `port`."""
    return sum(state == LISTEN for state, _ in tcp_sockets(port))


def connection_split(port: int, pgid: int) -> str:
    """Established connections to `port` per process of the group that holds any, most
    first ("8/8"): an uneven split moves a run's rate more than most changes do (with one
    SO_REUSEPORT socket per worker the kernel's hash made 9/7 and 10/6 common)."""
    owner: dict[str, int] = {}
    for pid in group_pids(pgid):
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{descriptor}")
            except OSError:
                continue
            if target.startswith("socket:["):
                owner[target[8:-1]] = pid
    counts: dict[int, int] = {}
    listening: set[int] = set()
    for state, inode in tcp_sockets(port):
        pid = owner.get(inode)
        if pid is None:
            continue
        if state == LISTEN:
            listening.add(pid)
        elif state == ESTABLISHED:
            counts[pid] = counts.get(pid, 0) + 1
    # A supervisor that only listens and hands connections on holds none: left out.
    holders = set(counts) or listening
    per_process = sorted((counts.get(pid, 0) for pid in holders), reverse=True)
    return "/".join(str(n) for n in per_process)


def wait_listeners(port: int, count: int, managed: Managed, *, timeout: float) -> None:
    """Wait until `port` listens and, for a server of ours with `count` > 1 workers, until
    its supervisor logs all of them ready.

    Our supervisor hands each connection to the ready worker serving the fewest: a load
    started while a worker is still starting (its start-up slowed by the load itself)
    would put every connection on the others.
    """
    started = time.monotonic()
    while not listening_sockets(port) or (count > 1 and not _all_ready(managed, count)):
        if not managed.alive():
            raise RuntimeError(f"{managed.name} exited before its workers were ready")
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{managed.name}: not all {count} workers ready on {port}")
        time.sleep(0.05)
    waited = time.monotonic() - started
    if waited >= 0.05:
        say(f"{managed.name}: all {count} workers ready after a further {waited:.2f} s")


def _all_ready(managed: Managed, count: int) -> bool:
    """Whether the server's log says `count` workers are ready."""
    try:
        lines = managed.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return False
    for line in lines:
        if '"workers ready"' in line:
            with contextlib.suppress(ValueError):
                if json.loads(line).get("ready") == count:
                    return True
    return False


# -- wrk ---------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The wrk binary; installs Debian's `wrk` with apt-get when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    say("wrk is missing; installing the Debian package `wrk` with apt-get")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run([*prefix, "apt-get", "update", "-q"], check=True, env=env, timeout=300)
        subprocess.run(
            [*prefix, "apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"],
            check=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise SystemExit(
            f"wrk is not installed and installing it failed ({error}).\n"
            "Install it by hand as root: apt-get update && apt-get install -y wrk"
        ) from None
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is still not on PATH after apt-get install wrk")
    return found


@dataclass
class WrkResult:
    """One measured wrk run, from the RESULT line of bench/lua/report.lua."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    status_errors: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    server_cpu_s: float = 0.0
    wrk_cpu_s: float = 0.0
    # wrk's connections per server process holding any (e.g. "9/7"), seen early in the run.
    split: str = ""

    @property
    def socket_errors(self) -> int:
        """Connect, read and write errors and timeouts together."""
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    @property
    def errors(self) -> int:
        """Every failed request: non-2xx answers and socket errors."""
        return self.non2xx + self.socket_errors

    @property
    def tokens_per_cpu_s(self) -> float:
        """2xx responses per CPU second the server used (0 when unknown)."""
        ok = self.requests - self.non2xx
        return ok / self.server_cpu_s if self.server_cpu_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Fields plus the derived figures, for JSON."""
        return asdict(self) | {
            "socket_errors": self.socket_errors,
            "errors": self.errors,
            "tokens_per_cpu_s": round(self.tokens_per_cpu_s, 1),
        }


_RESULT = re.compile(r"^RESULT (.*)$", re.MULTILINE)


def parse_result(output: str) -> WrkResult:
    """The RESULT line of a wrk run's output."""
    match = _RESULT.search(output)
    if match is None:
        raise RuntimeError(f"wrk printed no RESULT line:\n{output[-2000:]}")
    values = dict(item.split("=", 1) for item in match.group(1).split())
    return WrkResult(
        requests=int(values["requests"]),
        duration_s=float(values["duration_s"]),
        rps=float(values["rps"]),
        p50_ms=float(values["p50_ms"]),
        p90_ms=float(values["p90_ms"]),
        p99_ms=float(values["p99_ms"]),
        max_ms=float(values["max_ms"]),
        non2xx=int(values["non2xx"]),
        status_errors=int(values["status_errors"]),
        connect_errors=int(values["connect_errors"]),
        read_errors=int(values["read_errors"]),
        write_errors=int(values["write_errors"]),
        timeouts=int(values["timeouts"]),
    )


@dataclass(frozen=True)
class LoadSpec:
    """How wrk drives an endpoint."""

    threads: int
    connections: int
    warmup_s: int
    duration_s: int
    timeout_s: int = 5


def run_wrk(
    wrk: str,
    spec: LoadSpec,
    script: Path,
    url: str,
    env: Mapping[str, str],
    *,
    duration_s: int,
    server_pgid: int | None = None,
    raw_path: Path | None = None,
) -> WrkResult:
    """One wrk run against a loopback URL, hard-capped at `duration_s` + 15 s."""
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"refusing to load a non-loopback URL: {url}")
    argv = [
        wrk,
        f"-t{spec.threads}",
        f"-c{spec.connections}",
        f"-d{duration_s}s",
        f"--timeout={spec.timeout_s}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    cpu_before = group_cpu_seconds(server_pgid) if server_pgid else 0.0
    usage_before = os.times()
    with subprocess.Popen(
        argv,
        env={**os.environ, **env, "BENCH_LUA_DIR": str(script.parent)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    ) as wrk_process:
        split = ""
        if server_pgid:
            time.sleep(min(1.5, duration_s / 2))
            split = connection_split(int(url.split(":")[2].split("/")[0]), server_pgid)
        try:
            output, _ = wrk_process.communicate(timeout=duration_s + 15)
        except subprocess.TimeoutExpired:
            wrk_process.kill()
            raise
    usage_after = os.times()
    cpu_after = group_cpu_seconds(server_pgid) if server_pgid else 0.0
    if raw_path is not None:
        raw_path.write_text(output)
    if wrk_process.returncode != 0:
        raise RuntimeError(f"wrk exited with {wrk_process.returncode}:\n{output[-2000:]}")
    result = parse_result(output)
    result.split = split
    result.server_cpu_s = round(max(0.0, cpu_after - cpu_before), 2)
    result.wrk_cpu_s = round(
        (usage_after.children_user - usage_before.children_user)
        + (usage_after.children_system - usage_before.children_system),
        2,
    )
    return result


# -- openssl and machine facts -----------------------------------------------------------

_RSA_LINE = re.compile(r"^rsa\s+2048 bits\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", re.MULTILINE)


def openssl_rsa2048_sign_rate(seconds: int = 3, processes: int = 2) -> float:
    """RSA-2048 signatures per second of `openssl speed -multi` (all processes together)."""
    completed = subprocess.run(
        [
            "openssl",
            "speed",
            "-seconds",
            str(seconds),
            "-multi",
            str(processes),
            "rsa2048",
        ],
        capture_output=True,
        text=True,
        timeout=seconds * 4 + 60,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    match = _RSA_LINE.search(completed.stdout)
    if match is None:
        raise RuntimeError(f"no rsa 2048 line in openssl speed output:\n{completed.stdout}")
    return float(match.group(1))


def command_version(argv: Sequence[str]) -> str:
    """The first line a `--version`-style command prints, or 'not found'."""
    try:
        completed = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "not found"
    lines = (completed.stdout or completed.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_facts() -> dict[str, Any]:
    """Cores, CPU, kernel and load, for the report."""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
