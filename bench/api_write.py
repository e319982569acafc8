"""Durable write throughput of the Timesheets API against the seed-style Node API.

What it measures: authorized `POST /timesheets` on our API in production mode
(`timesheets api`, 2 worker processes, SQLite with its default durability, WAL and
synchronous=FULL, in a temporary data directory; or PostgreSQL with --database-url),
and with --postgres also on a throw-away PostgreSQL with fsync and synchronous_commit
on (bench/pg.py; a fresh database each round; the authorization server then runs on it
too, 2 workers), driven by wrk over loopback with -t1 -c16, a 3 s warm-up and then 10 s
measured. Every request carries the same machine token and a different `user_id`
(bench/lua/timesheets.lua), so each one is a new, valid entry and no per-person hour
cap is reached. The script's `done` hook prints the RESULT line (rate, latency
percentiles, non-2xx answers, socket errors) and writes the user_id of every 2xx
answer; after the API has been stopped the benchmark reads the entries table and checks
that every acknowledged entry is there.

In the same run, with the same wrk settings and the same token, it measures the
seed-style Node API (../shared/peers/seed-api: express + Auth0's
express-oauth2-jwt-bearer, which validates the token and stores nothing). Both trust our
authorization server (`timesheets authserver`, configured with `timesheets admin`: one
API, one machine client, one grant), which only serves discovery and the JWKS during the
load. Rounds interleave (ours, peer, ours, peer; with --postgres SQLite, PostgreSQL, peer,
then PostgreSQL, SQLite, peer) with fresh API processes and a fresh database each round.

Run:   .venv/bin/python bench/api_write.py [--rounds 2] [--duration 10] [--warmup 3] [--reference]
           [--connections 16] [--database-url URL] [--postgres] [--json results.json]
           [--check]

Standard output gets the results (Markdown); progress goes to standard error; wrk's raw
output, the acknowledged ids and the server logs go to bench/results/raw/<stamp>-api-write/.
Targets printed beside the figures: ours/peer >= 1.5 on SQLite and >= 1.0 on PostgreSQL,
zero errors, every acknowledged entry found in the database.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    LUA_DIR,
    REPO,
    LoadSpec,
    Managed,
    WrkResult,
    add_run_options,
    check_run_options,
    command_version,
    default_peers_dir,
    ensure_wrk,
    machine_busy_fraction,
    machine_facts,
    mark,
    run_wrk,
    say,
    stop_on_signals,
)
from pg import Scratch, scratch
from tenant import (
    API,
    Tenant,
    as_dict,
    database_kind,
    loopback_port,
    query_api_db,
    service_env,
    sqlite_path,
    start_authserver,
    start_server,
)

SCRIPT = LUA_DIR / "timesheets.lua"
SCOPES = ("create:timesheets", "read:timesheets")
OURS = "timesheets-api"
OURS_PG = "timesheets-api-pg"
REFERENCE = "starlette-reference"
PEER = "seed-api"
TARGET_RATIOS = {OURS: 1.5, OURS_PG: 1.0}  # ours/peer req/s, per database


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="POST /timesheets throughput, durable: ours vs the seed-style Node API."
    )
    add_run_options(parser, "our API")
    parser.add_argument(
        "--database-url",
        default="",
        help="SQLAlchemy async URL of the API's database, e.g. "
        "postgresql+asyncpg://user:pw@127.0.0.1:5432/db (default: SQLite in a temporary "
        "data dir, fresh each round)",
    )
    parser.add_argument(
        "--peers-dir",
        type=Path,
        default=default_peers_dir(),
        help="folder holding seed-api/run.sh (default: shared/peers beside the repo)",
    )
    parser.add_argument("--no-peer", action="store_true", help="measure only our API")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also measure bench/reference_api.py (a bare Starlette route, SQLite) each round",
    )
    args = parser.parse_args(argv)
    args.spec = check_run_options(parser, args)
    if not args.no_peer and not (args.peers_dir / "seed-api" / "run.sh").exists():
        parser.error(f"no seed-api/run.sh under {args.peers_dir} (or pass --no-peer)")
    return args


# -- one measurement ---------------------------------------------------------------------


@dataclass
class Durability:
    """What the load acknowledged and what the database holds afterwards."""

    acknowledged: int  # user_ids echoed by 2xx answers, warm-up and measured run
    found: int  # rows of this round's user_ids in the entries table
    missing: int  # acknowledged but not found: must be 0
    unacknowledged_stored: int  # stored, answer not seen (in flight when wrk stopped)


@dataclass
class Measurement:
    """One measured run of one server in one round."""

    round: int
    server: str
    result: WrkResult
    acknowledged_measured: int  # 2xx answers of the measured run
    durability: Durability | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """For JSON."""
        return {
            "round": self.round,
            "server": self.server,
            "acknowledged_measured": self.acknowledged_measured,
            "durability": self.durability.__dict__ if self.durability else None,
            "notes": self.notes,
        } | self.result.as_dict()


BODY = {"date": "2025-01-06", "project": "Timesheets API", "hours": 1}


def preflight(base: str, token: str, user_id: str, name: str) -> None:
    """Refused without a token; 201 with one."""
    with httpx.Client(timeout=10) as http:
        refused = http.post(f"{base}/timesheets", json={**BODY, "user_id": user_id})
        if refused.status_code != 401:
            raise RuntimeError(f"{name} preflight: no token gave HTTP {refused.status_code}")
        created = http.post(
            f"{base}/timesheets",
            json={**BODY, "user_id": user_id},
            headers={"Authorization": f"Bearer {token}"},
        )
    if created.status_code != 201:
        raise RuntimeError(f"{name} preflight: HTTP {created.status_code}: {created.text[:500]}")


@dataclass(frozen=True)
class Workload:
    """What wrk runs against the API: a script under bench/lua, from `path` on the API,
    its extra environment, and what to do with the API's base URL before the load."""

    script: Path = SCRIPT
    path: str = "/timesheets"
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[str], None] | None = None


WRITES = Workload()


@dataclass
class Bench:
    """What the measurements of one run share: its options and wrk settings, its
    folders and processes, and our authorization server with a token from it."""

    args: argparse.Namespace
    spec: LoadSpec
    wrk: str
    run: Scratch
    raw_dir: Path
    run_id: str
    tenant: Tenant
    issuer: str
    token: str
    facts: dict[str, Any]
    pg_settings: dict[str, str] | None  # PostgreSQL's version and durability settings

    def header(self, load: str) -> list[str]:
        """The report's first lines: wrk's settings, `load`, our API, the machine."""
        spec, facts, database_url = self.spec, self.facts, getattr(self.args, "database_url", "")
        ours = f"{OURS}: {database_kind(database_url)}" + (
            "" if database_url else " (WAL, synchronous=FULL)"
        )
        if self.pg_settings:
            shown = self.pg_settings
            ours += (
                f"; {OURS_PG}: PostgreSQL {shown['server_version']} (throw-away, fsync="
                f"{shown['fsync']}, synchronous_commit={shown['synchronous_commit']})"
            )
        return [
            f"wrk -t{spec.threads} -c{spec.connections} -d{spec.duration_s}s --timeout "
            f"{spec.timeout_s}s --latency (after a {spec.warmup_s} s warm-up), loopback; "
            f"{load}; our API: {self.args.workers} workers; {ours}",
            f"Machine: {facts['nproc']} cores, {facts['cpu_model']}, kernel {facts['kernel']}, "
            f"busy before start {facts['busy_before_pct']}%, load average {facts['loadavg_1m']}",
        ]


@contextlib.contextmanager
def bench_session(args: argparse.Namespace, name: str, scopes: Sequence[str]) -> Iterator[Bench]:
    """Folders, wrk, the machine's facts, PostgreSQL with --postgres, our tenant with
    `scopes` and its authorization server (2 workers; on PostgreSQL with --postgres, where
    it only serves discovery and the JWKS during the load) and a token; all stopped and
    removed afterwards."""
    wrk = ensure_wrk()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw_dir = REPO / "bench" / "results" / "raw" / f"{stamp}-{name}"
    raw_dir.mkdir(parents=True, exist_ok=True)
    with scratch(f"timesheets-bench-{name}-", postgres=args.postgres, keep=args.keep) as run:
        facts = machine_facts() | {"stamp": stamp}
        facts["busy_before_pct"] = round(100 * machine_busy_fraction(2.0))
        auth_db = run.postgres.new_database() if run.postgres else ""
        tenant = Tenant(run.data_dir / "auth", database_url=auth_db)
        say(f"configuring our tenant in {tenant.data_dir}")
        tenant.configure(scopes)
        issuer = start_authserver(
            run.processes, tenant, raw_dir / "authserver.log", workers=args.workers
        )
        token = tenant.token(issuer)
        run_id = f"{name[0]}{secrets.token_hex(3)}"
        pg_settings = run.postgres.settings() if run.postgres else None
        yield Bench(
            args, args.spec, wrk, run, raw_dir, run_id, tenant, issuer, token, facts, pg_settings
        )


def load(
    bench: Bench, base: str, tag: str, label: str, server_pgid: int, workload: Workload
) -> tuple[WrkResult, list[str]]:
    """Warm-up then measured run; the result and the user_ids acknowledged in both."""
    acked: list[str] = []
    spec = bench.spec
    runs = [("w", spec.warmup_s, f"{label}-warmup"), ("m", spec.duration_s, label)]
    result = None
    for suffix, seconds, name in runs:
        if not seconds:
            continue
        ack_file = bench.raw_dir / f"{name}-acked.txt"
        env = {"ACCESS_TOKEN": bench.token, "RUN_TAG": f"{tag}{suffix}", "ACK_FILE": str(ack_file)}
        result = run_wrk(
            bench.wrk,
            spec,
            workload.script,
            base + workload.path,
            env | workload.env,
            duration_s=seconds,
            server_pgid=server_pgid if suffix == "m" else None,
            raw_path=bench.raw_dir / f"{name}.txt",
        )
        acked += ack_file.read_text().split()
    assert result is not None
    return result, acked


def load_then_stop(
    bench: Bench,
    server: Managed,
    name: str,
    port: int,
    tag: str,
    label: str,
    workload: Workload,
    before_stop: Callable[[str], None] | None = None,
) -> tuple[WrkResult, list[str]]:
    """Preflight, prepare, warm-up and measured run on a started server, then (after
    `before_stop` is given its base URL) stop it (SIGTERM: the workers finish what is in
    flight)."""
    base = f"http://{HOST}:{port}"
    try:
        preflight(base, bench.token, f"{tag}p-preflight", name)
        if workload.prepare is not None:
            workload.prepare(base)
        result, acked = load(bench, base, tag, label, server.pgid, workload)
        if not server.alive():
            raise RuntimeError(f"{name} died during the load:\n{server.log_tail()}")
        if before_stop is not None:
            before_stop(base)
    finally:
        bench.run.processes.stop(server)
    return result, acked


WRITES_METRIC = "timesheets_api_writes_per_transaction"
SYNC_METRIC = "timesheets_api_wal_sync_seconds"


def writer_notes(base: str) -> list[str]:
    """The mean writes a transaction of the API's writer so far and the mean time of its
    WAL syncs (SQLite only), from its `/metrics` (summed over the workers), as notes; a
    failed read is noted, not fatal. A round that syncs slowly is one the disk slowed."""
    try:
        with httpx.Client(timeout=10) as http:
            text = http.get(f"{base}/metrics").raise_for_status().text
    except httpx.HTTPError as error:
        return [f"writer metrics not read: {error}"]
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        if family.name in (WRITES_METRIC, SYNC_METRIC)
        for sample in family.samples
    }
    notes = []
    if count := values.get(f"{WRITES_METRIC}_count", 0.0):
        mean = values[f"{WRITES_METRIC}_sum"] / count
        notes.append(f"{mean:.2f} writes a transaction (warm-up and measured run)")
    if syncs := values.get(f"{SYNC_METRIC}_count", 0.0):
        mean_ms = 1000 * values[f"{SYNC_METRIC}_sum"] / syncs
        notes.append(f"{mean_ms:.3f} ms a WAL sync ({syncs:.0f} syncs)")
    return notes


def check_stored(
    api_dir: Path, database_url: str, prefixes: Iterable[str], acked: list[str]
) -> Durability:
    """Compare the user_ids acknowledged with those the entries table holds under
    `prefixes` (read after the API has stopped)."""
    stored: set[str] = set()
    for prefix in prefixes:
        rows = query_api_db(
            api_dir,
            database_url,
            "SELECT user_id FROM entries WHERE user_id LIKE :prefix",
            {"prefix": f"{prefix}-%"},
        )
        stored |= {str(row[0]) for row in rows}
    acked_set = set(acked)
    return Durability(
        acknowledged=len(acked),
        found=len(stored),
        missing=len(acked_set - stored),
        unacknowledged_stored=len(stored - acked_set),
    )


def measure_ours(
    bench: Bench, round_number: int, name: str, database_url: str, workload: Workload
) -> Measurement:
    """A fresh API process and database: preflight, prepare, load, stop, count."""
    port = loopback_port()
    label = f"{name}-r{round_number}"
    tag = f"{bench.run_id}-{name}-r{round_number}"
    api_dir = bench.run.data_dir / label
    argv = bench.tenant.api_argv(
        port, bench.issuer, api_dir, workers=bench.args.workers, database_url=database_url
    )
    server = start_server(
        bench.run.processes,
        name,
        argv,
        service_env(),
        port,
        bench.raw_dir / f"{label}-server.log",
        ready_path="/healthz",
        listeners=bench.args.workers,
    )
    notes: list[str] = []
    result, acked = load_then_stop(
        bench,
        server,
        name,
        port,
        tag,
        label,
        workload,
        before_stop=lambda base: notes.extend(writer_notes(base)),
    )
    durability = check_stored(api_dir, database_url, (f"{tag}w", f"{tag}m"), acked)
    measurement = Measurement(
        round_number, name, result, result.requests - result.non2xx, durability
    )
    measurement.notes += notes
    if len(set(acked)) != len(acked):
        measurement.notes.append(f"{len(acked) - len(set(acked))} user_ids acknowledged twice")
    say(
        f"round {round_number}: {name} {result.rps:.0f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms, errors {result.errors}; acknowledged "
        f"{durability.acknowledged}, found {durability.found}, missing {durability.missing}"
    )
    return measurement


def measure_round(
    bench: Bench, round_number: int, workload: Workload = WRITES
) -> list[Measurement]:
    """Our API in one round: on SQLite (or --database-url) and, with --postgres, on a
    fresh PostgreSQL database; the two go first in turn, so neither always follows the
    peer."""
    databases: list[tuple[str, Callable[[], str]]] = [
        (OURS, lambda: getattr(bench.args, "database_url", ""))
    ]
    if bench.run.postgres is not None:
        databases.append((OURS_PG, bench.run.postgres.new_database))
    return [
        measure_ours(bench, round_number, name, new_database(), workload)
        for name, new_database in (databases if round_number % 2 else databases[::-1])
    ]


def measure_peer(bench: Bench, round_number: int) -> Measurement:
    """A fresh seed-api process trusting our issuer: preflight, load, stop."""
    port = loopback_port()
    label = f"{PEER}-r{round_number}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMESHEETS_")}
    env |= {"ISSUER_BASE_URL": bench.issuer, "AUDIENCE": API}
    server = start_server(
        bench.run.processes,
        PEER,
        [str(bench.args.peers_dir / "seed-api" / "run.sh"), str(port)],
        env,
        port,
        bench.raw_dir / f"{label}-server.log",
        ready_path="/",
        ready_status=None,
        timeout=300,  # the first start installs its packages
    )
    tag = f"{bench.run_id}-peer-r{round_number}"
    result, _acked = load_then_stop(bench, server, PEER, port, tag, label, WRITES)
    say(
        f"round {round_number}: {PEER} {result.rps:.0f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms, errors {result.errors}"
    )
    return Measurement(round_number, PEER, result, result.requests - result.non2xx)


def measure_reference(bench: Bench, round_number: int) -> Measurement:
    """A fresh bench/reference_api.py (2 workers, its own SQLite file): preflight, load,
    stop, count."""
    port = loopback_port()
    label = f"{REFERENCE}-r{round_number}"
    tag = f"{bench.run_id}-ref-r{round_number}"
    api_dir = bench.run.data_dir / label
    api_dir.mkdir(parents=True)
    env = service_env() | {
        "REFERENCE_ISSUER": bench.issuer,
        "REFERENCE_AUDIENCE": API,
        "REFERENCE_DB": str(sqlite_path(api_dir)),
    }
    argv = [
        str(Path(sys.executable).parent / "uvicorn"),
        "reference_api:app",
        "--app-dir",
        str(REPO / "bench"),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(bench.args.workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    server = start_server(
        bench.run.processes,
        REFERENCE,
        argv,
        env,
        port,
        bench.raw_dir / f"{label}-server.log",
        ready_path="/timesheets",
        ready_status=None,
    )
    result, acked = load_then_stop(bench, server, REFERENCE, port, tag, label, WRITES)
    durability = check_stored(api_dir, "", (f"{tag}w", f"{tag}m"), acked)
    say(
        f"round {round_number}: {REFERENCE} {result.rps:.0f} req/s, p50 {result.p50_ms:.2f} "
        f"ms, p99 {result.p99_ms:.2f} ms, errors {result.errors}; missing {durability.missing}"
    )
    return Measurement(round_number, REFERENCE, result, result.requests - result.non2xx, durability)


# -- report ------------------------------------------------------------------------------


def report(measurements: list[Measurement], bench: Bench) -> tuple[str, bool]:
    """The Markdown results and whether every target was met."""
    lines = [
        *bench.header("bench/lua/timesheets.lua: POST /timesheets, a new person each"),
        "",
        "| round | server | req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx "
        "| socket errors | server CPU s | 2xx per CPU s | 2xx (measured) "
        "| acknowledged (warm-up + measured) | found in DB | missing | connections per process |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in measurements:
        r = m.result
        d = m.durability
        stored = (
            f"{d.acknowledged} | {d.found} | {d.missing}"
            if d is not None
            else "n/a | n/a (stores nothing) | n/a"
        )
        lines.append(
            f"| {m.round} | {m.server} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p90_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.max_ms:.2f} | {r.non2xx} | {r.socket_errors} "
            f"| {r.server_cpu_s:.1f} | {r.tokens_per_cpu_s:.0f} | {m.acknowledged_measured} "
            f"| {stored} | {r.split or 'n/a'} |"
        )
    by_key = {(m.round, m.server): m for m in measurements}
    lines += [
        "",
        "| round | server | ours/peer req/s (target) | ours/peer per CPU s (API processes "
        "only) | our errors (target 0) | acknowledged entries missing (target 0) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    all_ok = True
    ratios: dict[str, list[float]] = {}
    for number in sorted({m.round for m in measurements}):
        peer = by_key.get((number, PEER))
        for name in (OURS, OURS_PG):
            ours = by_key.get((number, name))
            if ours is None:
                continue
            target = TARGET_RATIOS[name]
            ratio_text = per_cpu_text = "n/a"
            if peer is not None and peer.result.rps > 0:
                ratio = ours.result.rps / peer.result.rps
                ratios.setdefault(name, []).append(ratio)
                all_ok &= ratio >= target
                ratio_text = f"{ratio:.2f} (>= {target}) {mark(ratio >= target)}"
                if peer.result.tokens_per_cpu_s > 0:
                    per_cpu = ours.result.tokens_per_cpu_s / peer.result.tokens_per_cpu_s
                    per_cpu_text = f"{per_cpu:.2f}"
            missing = ours.durability.missing if ours.durability else 0
            errors = ours.result.errors
            all_ok &= errors == 0 and missing == 0
            lines.append(
                f"| {number} | {name} | {ratio_text} | {per_cpu_text} "
                f"| {errors} {mark(errors == 0)} | {missing} {mark(missing == 0)} |"
            )
    for number in sorted({m.round for m in measurements}):
        peer, reference = by_key.get((number, PEER)), by_key.get((number, REFERENCE))
        if reference is None:
            continue
        to_peer = f"{reference.result.rps / peer.result.rps:.2f}" if peer else "n/a"
        ours = by_key.get((number, OURS))
        to_ours = f"{ours.result.rps / reference.result.rps:.2f}" if ours else "n/a"
        ratios.setdefault(REFERENCE, []).append(
            reference.result.rps / peer.result.rps if peer else 0.0
        )
        lines.append(
            f"| {number} | {REFERENCE} (yardstick, no target) | {to_peer} | n/a "
            f"| {reference.result.errors} | "
            f"{reference.durability.missing if reference.durability else 'n/a'} |"
        )
        lines.append(f"| {number} | {OURS}/{REFERENCE} | {to_ours} | | | |")
    if ratios:
        lines.append("")
    for name, values in ratios.items():
        lines.append(
            f"Mean {name}/{PEER} over {len(values)} rounds: {statistics.mean(values):.2f} "
            f"(min {min(values):.2f}, max {max(values):.2f}; "
            f"target {TARGET_RATIOS.get(name, 'none')})."
        )
    rates = {
        name: [m.result.rps for m in measurements if m.server == name] for name in TARGET_RATIOS
    }
    if all(rates.values()):
        pg_over_sqlite = statistics.mean(rates[OURS_PG]) / statistics.mean(rates[OURS])
        lines.append(f"Mean {OURS_PG}/{OURS} req/s: {pg_over_sqlite:.2f}.")
    peer_errors = sum(m.result.errors for m in measurements if m.server == PEER)
    if peer_errors:
        lines.append(f"The peer had {peer_errors} errors.")
    for m in measurements:
        for note in m.notes:
            lines.append(f"Round {m.round} {m.server}: {note}.")
    return "\n".join(lines), all_ok


def versions(peers_dir: Path) -> dict[str, str]:
    """Versions of what was measured."""
    found: dict[str, str] = {
        "python": sys.version.split()[0],
        "wrk": command_version(["wrk", "--version"]).split(" [")[0].removeprefix("wrk "),
        "node": command_version(["node", "--version"]),
        "sqlite": __import__("sqlite3").sqlite_version,
    }
    for package in (
        "timesheets",
        "uvicorn",
        "starlette",
        "pydantic",
        "sqlalchemy",
        "aiosqlite",
        "asyncpg",
    ):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    workdir = Path(
        os.environ.get("PEERS_WORKDIR")
        or Path(os.environ.get("TMPDIR", "/tmp")) / "timesheets-peers"
    )
    for candidate in (peers_dir / "seed-api", workdir / "seed-api"):
        modules = candidate / "node_modules"
        if (modules / "express").exists():
            for package in ("express", "express-oauth2-jwt-bearer"):
                package_json = modules / package / "package.json"
                if package_json.exists():
                    found[package] = json.loads(package_json.read_text())["version"]
            break
    return found


# -- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0, or 3 with --check when a target is missed."""
    args = parse_args(argv)
    stop_on_signals()
    measurements: list[Measurement] = []
    started = time.monotonic()
    with bench_session(args, "api-write", SCOPES) as bench:
        for number in range(1, args.rounds + 1):
            measurements += measure_round(bench, number)
            if args.reference:
                measurements.append(measure_reference(bench, number))
            if not args.no_peer:
                measurements.append(measure_peer(bench, number))
    spec, stamp, raw_dir = bench.spec, bench.facts["stamp"], bench.raw_dir

    table, all_ok = report(measurements, bench)
    found_versions = versions(args.peers_dir)
    print(f"# API write benchmark {stamp}\n")
    print(table)
    print("\nVersions: " + ", ".join(f"{k} {v}" for k, v in found_versions.items()))
    print(f"Raw output: {raw_dir.relative_to(REPO)}/ ({time.monotonic() - started:.0f} s in all)")
    print(f"Targets met: {'yes' if all_ok else 'no'}")
    if args.json is not None:
        document = {
            "stamp": stamp,
            "load": {
                "tool": "wrk",
                "threads": spec.threads,
                "connections": spec.connections,
                "warmup_s": spec.warmup_s,
                "duration_s": spec.duration_s,
                "timeout_s": spec.timeout_s,
            },
            "our_workers": args.workers,
            "database": database_kind(args.database_url),
            "postgres": bench.pg_settings,
            "machine": bench.facts,
            "versions": found_versions,
            "runs": [m.as_dict() for m in measurements],
            "targets": {"ratio_min": TARGET_RATIOS, "errors": 0, "missing": 0},
            "targets_met": all_ok,
        }
        args.json.write_text(json.dumps(as_dict(document), indent=2) + "\n")
        say(f"wrote {args.json}")
    return 3 if args.check and not all_ok else 0


if __name__ == "__main__":
    sys.exit(main())
