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

Run:   .venv/bin/python bench/api_write.py [--rounds 2] [--duration 10] [--warmup 3]
           [--connections 16] [--database-url URL] [--postgres] [--json results.json]
           [--check]

Standard output gets the results (Markdown); progress goes to standard error; wrk's raw
output, the acknowledged ids and the server logs go to bench/results/raw/<stamp>-api-write/.
Targets printed beside the figures: ours/peer >= 1.5 on SQLite and >= 1.0 on PostgreSQL,
zero errors, every acknowledged entry found in the database.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    LUA_DIR,
    REPO,
    LoadSpec,
    Processes,
    WrkResult,
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
from pg import scratch
from tenant import (
    API,
    Tenant,
    as_dict,
    database_kind,
    loopback_port,
    query_api_db,
    service_env,
    start_authserver,
    start_server,
)

SCRIPT = LUA_DIR / "timesheets.lua"
SCOPES = ("create:timesheets", "read:timesheets")
OURS = "timesheets-api"
OURS_PG = "timesheets-api-pg"
PEER = "seed-api"
TARGET_RATIOS = {OURS: 1.5, OURS_PG: 1.0}  # ours/peer req/s, per database


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="POST /timesheets throughput, durable: ours vs the seed-style Node API."
    )
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="our API's workers (default 2)")
    parser.add_argument(
        "--database-url",
        default="",
        help="SQLAlchemy async URL of the API's database, e.g. "
        "postgresql+asyncpg://user:pw@127.0.0.1:5432/db (default: SQLite in a temporary "
        "data dir, fresh each round)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also measure our API on a throw-away durable PostgreSQL (bench/pg.py)",
    )
    parser.add_argument(
        "--peers-dir",
        type=Path,
        default=default_peers_dir(),
        help="folder holding seed-api/run.sh (default: shared/peers beside the repo)",
    )
    parser.add_argument("--no-peer", action="store_true", help="measure only our API")
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 3 when a target is missed"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = parser.parse_args(argv)
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


def load(
    wrk: str,
    spec: LoadSpec,
    url: str,
    token: str,
    tag: str,
    raw_dir: Path,
    label: str,
    server_pgid: int,
) -> tuple[WrkResult, list[str]]:
    """Warm-up then measured run; the result and the user_ids acknowledged in both."""
    acked: list[str] = []
    if spec.warmup_s:
        warm_ack = raw_dir / f"{label}-warmup-acked.txt"
        run_wrk(
            wrk,
            spec,
            SCRIPT,
            url,
            {"ACCESS_TOKEN": token, "RUN_TAG": f"{tag}w", "ACK_FILE": str(warm_ack)},
            duration_s=spec.warmup_s,
            raw_path=raw_dir / f"{label}-warmup.txt",
        )
        acked += warm_ack.read_text().split()
    measured_ack = raw_dir / f"{label}-acked.txt"
    result = run_wrk(
        wrk,
        spec,
        SCRIPT,
        url,
        {"ACCESS_TOKEN": token, "RUN_TAG": f"{tag}m", "ACK_FILE": str(measured_ack)},
        duration_s=spec.duration_s,
        server_pgid=server_pgid,
        raw_path=raw_dir / f"{label}.txt",
    )
    acked += measured_ack.read_text().split()
    return result, acked


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
    processes: Processes,
    wrk: str,
    spec: LoadSpec,
    tenant: Tenant,
    issuer: str,
    token: str,
    args: argparse.Namespace,
    round_number: int,
    run_id: str,
    raw_dir: Path,
    api_dir: Path,
    name: str,
    database_url: str,
) -> Measurement:
    """A fresh API process and database: preflight, load, stop, count."""
    port = loopback_port()
    label = f"{name}-r{round_number}"
    tag = f"{run_id}-{name}-r{round_number}"
    server = start_server(
        processes,
        name,
        tenant.api_argv(port, issuer, api_dir, workers=args.workers, database_url=database_url),
        service_env(),
        port,
        raw_dir / f"{label}-server.log",
        ready_path="/healthz",
    )
    base = f"http://{HOST}:{port}"
    try:
        preflight(base, token, f"{tag}p-preflight", name)
        result, acked = load(
            wrk, spec, f"{base}/timesheets", token, tag, raw_dir, label, server.pgid
        )
        if not server.alive():
            raise RuntimeError(f"{name} died during the load:\n{server.log_tail()}")
    finally:
        processes.stop(server)  # SIGTERM: the workers finish what is in flight
    durability = check_stored(api_dir, database_url, (f"{tag}w", f"{tag}m"), acked)
    measurement = Measurement(
        round_number, name, result, result.requests - result.non2xx, durability
    )
    if len(set(acked)) != len(acked):
        measurement.notes.append(f"{len(acked) - len(set(acked))} user_ids acknowledged twice")
    say(
        f"round {round_number}: {name} {result.rps:.0f} entries/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms, errors {result.errors}; acknowledged "
        f"{durability.acknowledged}, found {durability.found}, missing {durability.missing}"
    )
    return measurement


def measure_peer(
    processes: Processes,
    wrk: str,
    spec: LoadSpec,
    peers_dir: Path,
    issuer: str,
    token: str,
    round_number: int,
    run_id: str,
    raw_dir: Path,
) -> Measurement:
    """A fresh seed-api process trusting our issuer: preflight, load, stop."""
    port = loopback_port()
    label = f"{PEER}-r{round_number}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMESHEETS_")}
    env |= {"ISSUER_BASE_URL": issuer, "AUDIENCE": API}
    server = start_server(
        processes,
        PEER,
        [str(peers_dir / "seed-api" / "run.sh"), str(port)],
        env,
        port,
        raw_dir / f"{label}-server.log",
        ready_path="/",
        ready_status=None,
        timeout=300,  # the first start installs its packages
    )
    base = f"http://{HOST}:{port}"
    tag = f"{run_id}-peer-r{round_number}"
    try:
        preflight(base, token, f"{tag}p-preflight", PEER)
        result, _acked = load(
            wrk, spec, f"{base}/timesheets", token, tag, raw_dir, label, server.pgid
        )
        if not server.alive():
            raise RuntimeError(f"{PEER} died during the load:\n{server.log_tail()}")
    finally:
        processes.stop(server)
    say(
        f"round {round_number}: {PEER} {result.rps:.0f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms, errors {result.errors}"
    )
    return Measurement(round_number, PEER, result, result.requests - result.non2xx)


# -- report ------------------------------------------------------------------------------


def report(
    measurements: list[Measurement],
    spec: LoadSpec,
    facts: dict[str, Any],
    args: argparse.Namespace,
    pg_settings: dict[str, str] | None,
) -> tuple[str, bool]:
    """The Markdown results and whether every target was met."""
    lines = [
        f"wrk -t{spec.threads} -c{spec.connections} -d{spec.duration_s}s --timeout "
        f"{spec.timeout_s}s --latency (after a {spec.warmup_s} s warm-up), loopback; "
        f"our API: {args.workers} workers; {OURS}: {database_kind(args.database_url)}"
        + (" (WAL, synchronous=FULL)" if not args.database_url else "")
        + (
            f"; {OURS_PG}: PostgreSQL {pg_settings['server_version']} (throw-away, fsync="
            f"{pg_settings['fsync']}, synchronous_commit={pg_settings['synchronous_commit']})"
            if pg_settings
            else ""
        ),
        f"Machine: {facts['nproc']} cores, {facts['cpu_model']}, kernel {facts['kernel']}, "
        f"busy before start {facts['busy_before_pct']}%, load average {facts['loadavg_1m']}",
        "",
        "| round | server | req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx "
        "| socket errors | server CPU s | 2xx per CPU s | 2xx (measured) "
        "| acknowledged (warm-up + measured) | found in DB | missing |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
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
            f"| {stored} |"
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
    if ratios:
        lines.append("")
    for name, values in ratios.items():
        lines.append(
            f"Mean {name}/{PEER} over {len(values)} rounds: {statistics.mean(values):.2f} "
            f"(min {min(values):.2f}, max {max(values):.2f}; target {TARGET_RATIOS[name]})."
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
    spec = LoadSpec(
        threads=args.threads,
        connections=args.connections,
        warmup_s=args.warmup,
        duration_s=args.duration,
    )
    wrk = ensure_wrk()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw_dir = REPO / "bench" / "results" / "raw" / f"{stamp}-api-write"
    raw_dir.mkdir(parents=True, exist_ok=True)
    run_id = f"b{secrets.token_hex(3)}"
    measurements: list[Measurement] = []
    pg_settings: dict[str, str] | None = None
    started = time.monotonic()
    with scratch("timesheets-bench-api-", postgres=args.postgres, keep=args.keep) as run:
        facts = machine_facts()
        facts["busy_before_pct"] = round(100 * machine_busy_fraction(2.0))
        # With --postgres both services run on it: the authorization server (which only
        # serves discovery and the JWKS during the load) and, in its rounds, the API.
        postgres = run.postgres
        tenant = Tenant(
            run.data_dir / "auth", database_url=postgres.new_database() if postgres else ""
        )
        say(f"configuring our tenant in {tenant.data_dir}")
        tenant.configure(SCOPES)
        issuer = start_authserver(
            run.processes, tenant, raw_dir / "authserver.log", workers=args.workers
        )
        token = tenant.token(issuer)
        ours: list[tuple[str, Callable[[], str]]] = [(OURS, lambda: args.database_url)]
        if postgres is not None:
            pg_settings = postgres.settings()
            ours.append((OURS_PG, postgres.new_database))
        for number in range(1, args.rounds + 1):
            # Alternate which database goes first, so neither always follows the peer.
            for name, new_database in ours if number % 2 else ours[::-1]:
                measurements.append(
                    measure_ours(
                        run.processes,
                        wrk,
                        spec,
                        tenant,
                        issuer,
                        token,
                        args,
                        number,
                        run_id,
                        raw_dir,
                        run.data_dir / f"{name}-r{number}",
                        name,
                        new_database(),
                    )
                )
            if not args.no_peer:
                measurements.append(
                    measure_peer(
                        run.processes,
                        wrk,
                        spec,
                        args.peers_dir,
                        issuer,
                        token,
                        number,
                        run_id,
                        raw_dir,
                    )
                )

    table, all_ok = report(measurements, spec, facts, args, pg_settings)
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
            "postgres": pg_settings,
            "machine": facts,
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
