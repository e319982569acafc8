"""Durable write throughput of the Timesheets API against the seed-style Node API.

What it measures: authorized `POST /timesheets` on our API in production mode
(`timesheets api`, 2 worker processes, SQLite with its default durability, WAL and
synchronous=FULL, in a temporary data directory; or PostgreSQL with --database-url),
driven by wrk over loopback with -t1 -c16, a 3 s warm-up and then 10 s measured. Every
request carries the same machine token and a different `user_id`
(bench/lua/timesheets.lua), so each one is a new, valid entry and no per-person hour cap
is reached. The script's `done` hook prints the RESULT line (rate, latency percentiles,
non-2xx answers, socket errors) and writes the user_id of every 2xx answer; after the
API has been stopped the benchmark reads the entries table and checks that every
acknowledged entry is there.

In the same run, with the same wrk settings and the same token, it measures the
seed-style Node API (../shared/peers/seed-api: express + Auth0's
express-oauth2-jwt-bearer, which validates the token and stores nothing). Both trust our
authorization server (`timesheets authserver`, configured with `timesheets admin`: one
API, one machine client, one grant), which only serves discovery and the JWKS during the
load. Rounds interleave (ours, peer, ours, peer) with fresh API processes and, on SQLite,
a fresh database each round.

Run:   .venv/bin/python bench/api_write.py [--rounds 2] [--duration 10] [--warmup 3]
           [--connections 16] [--database-url URL] [--json results.json] [--check]

Standard output gets the results (Markdown); progress goes to standard error; wrk's raw
output, the acknowledged ids and the server logs go to bench/results/raw/<stamp>-api-write/.
Targets printed beside the figures: ours/peer >= 1.5, zero errors, every acknowledged
entry found in the database.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
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
    ensure_wrk,
    machine_busy_fraction,
    machine_facts,
    run_wrk,
    say,
    stop_on_signals,
)
from tenant import (
    API,
    Tenant,
    as_dict,
    database_kind,
    loopback_port,
    query_api_db,
    service_env,
    start_server,
)

SCRIPT = LUA_DIR / "timesheets.lua"
SCOPES = ("create:timesheets", "read:timesheets")
TARGET_RATIO = 1.5
OURS = "timesheets-api"
PEER = "seed-api"


def default_peers_dir() -> Path:
    """`TIMESHEETS_PEERS_DIR`, else shared/peers beside the repository."""
    configured = os.environ.get("TIMESHEETS_PEERS_DIR")
    return Path(configured) if configured else REPO.parent / "shared" / "peers"


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
    data_dir: Path,
) -> Measurement:
    """A fresh API process (and, on SQLite, database): preflight, load, stop, count."""
    port = loopback_port()
    api_dir = data_dir / f"api-r{round_number}"
    label = f"{OURS}-r{round_number}"
    tag = f"{run_id}-r{round_number}"
    server = start_server(
        processes,
        OURS,
        tenant.api_argv(
            port, issuer, api_dir, workers=args.workers, database_url=args.database_url
        ),
        service_env(),
        port,
        raw_dir / f"{label}-server.log",
        ready_path="/healthz",
    )
    base = f"http://{HOST}:{port}"
    try:
        preflight(base, token, f"{tag}p-preflight", OURS)
        result, acked = load(
            wrk, spec, f"{base}/timesheets", token, tag, raw_dir, label, server.pgid
        )
        if not server.alive():
            raise RuntimeError(f"{OURS} died during the load:\n{server.log_tail()}")
    finally:
        processes.stop(server)  # SIGTERM: the workers finish what is in flight
    stored: set[str] = set()
    for suffix in ("w", "m"):
        rows = query_api_db(
            api_dir,
            args.database_url,
            "SELECT user_id FROM entries WHERE user_id LIKE :prefix",
            {"prefix": f"{tag}{suffix}-%"},
        )
        stored |= {str(row[0]) for row in rows}
    acked_set = set(acked)
    durability = Durability(
        acknowledged=len(acked),
        found=len(stored),
        missing=len(acked_set - stored),
        unacknowledged_stored=len(stored - acked_set),
    )
    measurement = Measurement(
        round_number, OURS, result, result.requests - result.non2xx, durability
    )
    if len(acked_set) != len(acked):
        measurement.notes.append(f"{len(acked) - len(acked_set)} user_ids acknowledged twice")
    say(
        f"round {round_number}: {OURS} {result.rps:.0f} entries/s, p50 {result.p50_ms:.2f} ms, "
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


def mark(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def report(
    measurements: list[Measurement],
    spec: LoadSpec,
    facts: dict[str, Any],
    args: argparse.Namespace,
) -> tuple[str, bool]:
    """The Markdown results and whether every target was met."""
    lines = [
        f"wrk -t{spec.threads} -c{spec.connections} -d{spec.duration_s}s --timeout "
        f"{spec.timeout_s}s --latency (after a {spec.warmup_s} s warm-up), loopback; "
        f"our API: {args.workers} workers, {database_kind(args.database_url)}"
        + (" (WAL, synchronous=FULL)" if not args.database_url else ""),
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
        f"| round | ours/peer req/s (target >= {TARGET_RATIO}) | ours/peer per CPU s "
        "| our errors (target 0) | acknowledged entries missing (target 0) |",
        "|---:|---:|---:|---:|---:|",
    ]
    all_ok = True
    ratios: list[float] = []
    for number in sorted({m.round for m in measurements}):
        ours = by_key.get((number, OURS))
        peer = by_key.get((number, PEER))
        if ours is None:
            continue
        ratio_text = per_cpu_text = "n/a"
        if peer is not None and peer.result.rps > 0:
            ratio = ours.result.rps / peer.result.rps
            ratios.append(ratio)
            all_ok &= ratio >= TARGET_RATIO
            ratio_text = f"{ratio:.2f} {mark(ratio >= TARGET_RATIO)}"
            if peer.result.tokens_per_cpu_s > 0:
                per_cpu_text = f"{ours.result.tokens_per_cpu_s / peer.result.tokens_per_cpu_s:.2f}"
        missing = ours.durability.missing if ours.durability else 0
        errors = ours.result.errors
        all_ok &= errors == 0 and missing == 0
        lines.append(
            f"| {number} | {ratio_text} | {per_cpu_text} | {errors} {mark(errors == 0)} "
            f"| {missing} {mark(missing == 0)} |"
        )
    if ratios:
        lines.append(
            f"\nMean ours/peer over {len(ratios)} rounds: {statistics.mean(ratios):.2f} "
            f"(min {min(ratios):.2f}, max {max(ratios):.2f})."
        )
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
    for package in ("timesheets", "uvicorn", "starlette", "pydantic", "sqlalchemy", "aiosqlite"):
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
    data_dir = Path(tempfile.mkdtemp(prefix="timesheets-bench-api-"))
    run_id = f"b{secrets.token_hex(3)}"
    processes = Processes()
    measurements: list[Measurement] = []
    started = time.monotonic()
    try:
        facts = machine_facts()
        facts["busy_before_pct"] = round(100 * machine_busy_fraction(2.0))
        tenant = Tenant(data_dir)
        say(f"configuring our tenant in {data_dir}")
        tenant.configure(SCOPES)
        as_port = loopback_port()
        issuer = f"http://{HOST}:{as_port}"
        start_server(
            processes,
            "authserver",
            tenant.authserver_argv(as_port),
            tenant.env,
            as_port,
            raw_dir / "authserver.log",
            ready_path="/.well-known/openid-configuration",
        )
        token = tenant.token(issuer)
        for number in range(1, args.rounds + 1):
            measurements.append(
                measure_ours(
                    processes,
                    wrk,
                    spec,
                    tenant,
                    issuer,
                    token,
                    args,
                    number,
                    run_id,
                    raw_dir,
                    data_dir,
                )
            )
            if not args.no_peer:
                measurements.append(
                    measure_peer(
                        processes,
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
    finally:
        processes.stop_all()
        if args.keep:
            say(f"kept the data directory {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    table, all_ok = report(measurements, spec, facts, args)
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
            "machine": facts,
            "versions": found_versions,
            "runs": [m.as_dict() for m in measurements],
            "targets": {"ratio_min": TARGET_RATIO, "errors": 0, "missing": 0},
            "targets_met": all_ok,
        }
        args.json.write_text(json.dumps(as_dict(document), indent=2) + "\n")
        say(f"wrote {args.json}")
    return 3 if args.check and not all_ok else 0


if __name__ == "__main__":
    sys.exit(main())
