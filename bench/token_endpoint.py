"""Token-endpoint throughput: our authorization server against node-oidc-provider.

What it measures: `POST /oauth/token` with the client_credentials grant
(client_secret_basic; `resource` = the Timesheets API; both of its scopes), each answer a
fresh RS256-signed JWT access token (RFC 9068). wrk drives it over loopback with
-t1 -c16 (a 3 s warm-up, then 10 s measured, by default) and bench/lua/token.lua, whose
`done` hook prints one RESULT line (tokens/s, latency percentiles, non-2xx answers,
socket errors).

In the same run and with the same wrk settings it measures the peer node-oidc-provider
(../shared/peers/oidc-provider/run.sh: client `timesheets-m2m`, token endpoint `/token`),
and `openssl speed -multi 2 rsa2048`, the machine's raw RSA-2048 signing rate, which
bounds any server that signs each token with RSA-2048. Rounds interleave (ours, peer,
ours, peer) with fresh processes, so their spread shows run-to-run noise.

Our server runs in production mode (`timesheets authserver`, 2 workers, SQLite in a
temporary data directory unless --database-url is given), configured beforehand with
`timesheets admin` (bench/tenant.py's `Tenant`): one API, one machine client, one grant.
With --postgres, each round also measures a second tenant of ours on a throw-away,
durable PostgreSQL (bench/pg.py); the two go first in turn (SQLite, PostgreSQL, peer;
PostgreSQL, SQLite, peer; ...). The report gives the PostgreSQL/SQLite ratio (target >=
0.9: issuing a token reads the database only for the cached client lookup).

Run:   make bench
       .venv/bin/python bench/token_endpoint.py [--rounds 2] [--duration 10] [--warmup 3]
           [--connections 16] [--database-url URL] [--postgres] [--json results.json]
           [--check]

Standard output gets the results table (Markdown); progress goes to standard error, and
wrk's raw output and the server logs to bench/results/raw/<stamp>/. Every process it
starts runs in its own process group and is stopped at the end, also on Ctrl-C.
Targets printed beside the figures: ours (SQLite)/peer >= 1.5, zero errors, our p99 <
20 ms, and with --postgres ours on PostgreSQL / ours on SQLite >= 0.9.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
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
    Managed,
    Processes,
    WrkResult,
    add_run_options,
    check_run_options,
    command_version,
    default_peers_dir,
    ensure_wrk,
    free_port,
    machine_busy_fraction,
    machine_facts,
    mark,
    openssl_rsa2048_sign_rate,
    port_in_use,
    run_wrk,
    say,
    stop_on_signals,
    wait_http,
    wait_listeners,
)
from pg import scratch
from tenant import API, Tenant

SCOPES = ("create:timesheets", "read:timesheets")
TOKEN_BODY = (
    "grant_type=client_credentials&resource=https%3A%2F%2Fapi.timesheets.test"
    "&scope=create%3Atimesheets%20read%3Atimesheets"
)
PEER_CLIENT_ID = "timesheets-m2m"
PEER_CLIENT_SECRET = "timesheets-m2m-secret-for-benchmarks-only"

TARGET_RATIO = 1.5
TARGET_P99_MS = 20.0
TARGET_PG_RATIO = 0.9  # tokens/s on PostgreSQL within 10 % of SQLite

OURS = "timesheets"
OURS_PG = "timesheets-pg"
PEER = "oidc-provider"


# -- options -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Token endpoint throughput: ours vs node-oidc-provider (loopback, wrk)."
    )
    add_run_options(parser, "our server")
    parser.add_argument(
        "--database-url",
        default="",
        help="SQLAlchemy async URL for our server (default: SQLite in a temporary data "
        "dir). Use an empty database, or one an earlier run set up with the same "
        "TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY.",
    )
    parser.add_argument(
        "--peers-dir",
        type=Path,
        default=default_peers_dir(),
        help="folder holding oidc-provider/run.sh (default: shared/peers beside the repo)",
    )
    parser.add_argument(
        "--ours-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for our server and admin commands, e.g. "
        "TIMESHEETS_AUTH_KEY_CACHE_SECONDS=3600 (repeatable)",
    )
    parser.add_argument(
        "--wait-idle",
        type=int,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be under 15%% busy (default 0)",
    )
    parser.add_argument("--no-peer", action="store_true", help="measure only our server")
    args = parser.parse_args(argv)
    args.spec = check_run_options(parser, args)
    for item in args.ours_env:
        name, sep, _ = item.partition("=")
        if not sep or not name.startswith("TIMESHEETS_"):
            parser.error(f"--ours-env wants TIMESHEETS_NAME=VALUE, not {item!r}")
    if not args.no_peer and not (args.peers_dir / "oidc-provider" / "run.sh").exists():
        parser.error(f"no oidc-provider/run.sh under {args.peers_dir} (or pass --no-peer)")
    return args


# -- our server --------------------------------------------------------------------------


def our_tenant(args: argparse.Namespace, data_dir: Path, database_url: str) -> Tenant:
    """A tenant of ours (client_secret_basic) on `database_url` (empty: SQLite)."""
    extra = dict(item.split("=", 1) for item in args.ours_env)
    tenant = Tenant(data_dir, database_url=database_url, extra_env=extra)
    say(f"configuring our tenant in {data_dir}" + (" (PostgreSQL)" if database_url else ""))
    tenant.configure(SCOPES, auth_method="client_secret_basic")
    return tenant


# -- one measurement ---------------------------------------------------------------------


@dataclass
class Target:
    """A server under test: how to start it and where its token endpoint is."""

    name: str
    client_id: str
    client_secret: str
    token_path: str
    ready_path: str
    ready_status: int | None
    ready_timeout: float
    # Its database's transactions and rows written so far, when they can be counted.
    activity: Callable[[], tuple[int, int]] | None = None
    # Sockets listening once every worker is up (ours: one per worker).
    listeners: int = 1


@dataclass
class Measurement:
    """One measured run of one server in one round."""

    round: int
    server: str
    result: WrkResult
    preflight: dict[str, Any] = field(default_factory=dict)
    # Database transactions and rows written over the server's whole life, start-up
    # included, and the tokens it issued (preflight, warm-up and measured run), when they
    # can be counted.
    db_activity: tuple[int, int] | None = None
    tokens_issued: int = 0


def preflight(url: str, target: Target) -> dict[str, Any]:
    """One token request; must be 200 with a Bearer JWT carrying both scopes."""
    response = httpx.post(
        url,
        content=TOKEN_BODY,
        auth=(target.client_id, target.client_secret),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        timeout=10,
    )
    if response.status_code != 200:
        raise RuntimeError(
            f"{target.name} preflight: HTTP {response.status_code}: {response.text[:500]}"
        )
    body = response.json()
    token = str(body.get("access_token", ""))
    parts = token.split(".")
    if len(parts) != 3 or str(body.get("token_type", "")).lower() != "bearer":
        raise RuntimeError(f"{target.name} preflight: not a Bearer JWT: {body}")

    def decode(part: str) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        )
        return decoded

    header, claims = decode(parts[0]), decode(parts[1])
    granted = set(str(claims.get("scope", "")).split())
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not set(SCOPES) <= granted or API not in audiences:
        raise RuntimeError(f"{target.name} preflight: wrong scope or audience: {claims}")
    return {
        "alg": header.get("alg"),
        "typ": header.get("typ"),
        "token_bytes": len(token),
        "response_bytes": len(response.content),
        "scope": claims.get("scope"),
        "aud": audience,
    }


def measure(
    processes: Processes,
    wrk: str,
    spec: LoadSpec,
    target: Target,
    argv: list[str],
    env: dict[str, str],
    port: int,
    round_number: int,
    raw_dir: Path,
) -> Measurement:
    """Start a fresh server, preflight, warm up, measure, stop."""
    if port_in_use(port):
        raise RuntimeError(f"port {port} is in use; refusing to start {target.name}")
    base = f"http://{HOST}:{port}"
    label = f"{target.name}-r{round_number}"
    say(f"round {round_number}: starting {target.name} on {base}")
    activity_before = target.activity() if target.activity else None
    server: Managed = processes.start(
        target.name, argv, env=env, log_path=raw_dir / f"{label}-server.log"
    )
    try:
        wait_http(
            base + target.ready_path,
            server,
            timeout=target.ready_timeout,
            expect=target.ready_status,
        )
        wait_listeners(port, target.listeners, server, timeout=target.ready_timeout)
        facts = preflight(base + target.token_path, target)
        say(
            f"round {round_number}: {target.name} preflight ok ({facts['alg']}, "
            f"{facts['token_bytes']}-byte token)"
        )
        basic = base64.b64encode(f"{target.client_id}:{target.client_secret}".encode()).decode()
        wrk_env = {"BASIC": basic, "TOKEN_BODY": TOKEN_BODY}
        script = LUA_DIR / "token.lua"
        warmed = 0
        if spec.warmup_s:
            warmed = run_wrk(
                wrk,
                spec,
                script,
                base + target.token_path,
                wrk_env,
                duration_s=spec.warmup_s,
                raw_path=raw_dir / f"{label}-warmup.txt",
            ).requests
        result = run_wrk(
            wrk,
            spec,
            script,
            base + target.token_path,
            wrk_env,
            duration_s=spec.duration_s,
            server_pgid=server.pgid,
            raw_path=raw_dir / f"{label}.txt",
        )
        if not server.alive():
            raise RuntimeError(f"{target.name} died during the load:\n{server.log_tail()}")
        say(
            f"round {round_number}: {target.name} {result.rps:.0f} tokens/s, "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, errors {result.errors}"
        )
        measurement = Measurement(round_number, target.name, result, facts)
        measurement.tokens_issued = 1 + warmed + result.requests
    finally:
        processes.stop(server)
    if target.activity is not None and activity_before is not None:
        time.sleep(0.5)  # the server's backends report their counts as they end
        after = target.activity()
        measurement.db_activity = (after[0] - activity_before[0], after[1] - activity_before[1])
    return measurement


# -- report ------------------------------------------------------------------------------


def report(
    measurements: list[Measurement],
    sign_rates: list[float],
    spec: LoadSpec,
    facts: dict[str, Any],
    args: argparse.Namespace,
    pg_settings: dict[str, str] | None,
) -> tuple[str, bool]:
    """The Markdown results and whether every target was met."""
    sign_rate = statistics.mean(sign_rates) if sign_rates else 0.0
    lines = [
        f"wrk -t{spec.threads} -c{spec.connections} -d{spec.duration_s}s "
        f"(after a {spec.warmup_s} s warm-up), loopback; our server: {args.workers} workers"
        + (f", env {' '.join(args.ours_env)}" if args.ours_env else ""),
        f"Machine: {facts['nproc']} cores, {facts['cpu_model']}, kernel {facts['kernel']}, "
        f"busy before start {facts['busy_before_pct']}%, load average {facts['loadavg_1m']}",
        "openssl speed -seconds 3 -multi 2 rsa2048: "
        + ", ".join(f"{rate:.0f}" for rate in sign_rates)
        + " sign/s",
    ]
    if pg_settings:
        lines.append(
            f"{OURS_PG}: PostgreSQL {pg_settings['server_version']}, throw-away, fsync="
            f"{pg_settings['fsync']}, synchronous_commit={pg_settings['synchronous_commit']}"
        )
    lines += [
        "",
        "| round | server | tokens/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx "
        "| socket errors | server CPU s | tokens per CPU s | connections per process |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in measurements:
        r = m.result
        lines.append(
            f"| {m.round} | {m.server} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p90_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.max_ms:.2f} | {r.non2xx} | {r.socket_errors} "
            f"| {r.server_cpu_s:.1f} | {r.tokens_per_cpu_s:.0f} | {r.split or 'n/a'} |"
        )
    by_key = {(m.round, m.server): m.result for m in measurements}
    lines += [
        "",
        f"| round | server | ours/peer tokens/s (target >= {TARGET_RATIO} on SQLite) "
        f"| ours/peer per CPU s | ours / openssl sign/s | PostgreSQL / SQLite tokens/s "
        f"(target >= {TARGET_PG_RATIO}) | our errors (target 0) "
        f"| our p99 ms (target < {TARGET_P99_MS:.0f}) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    all_ok = True
    ratios: dict[str, list[float]] = {}
    for number in sorted({m.round for m in measurements}):
        peer = by_key.get((number, PEER))
        for name in (OURS, OURS_PG):
            ours = by_key.get((number, name))
            if ours is None:
                continue
            ratio_text = per_cpu_text = pg_text = "n/a"
            if peer is not None and peer.rps > 0:
                ratio = ours.rps / peer.rps
                ratios.setdefault(f"{name}/{PEER}", []).append(ratio)
                ratio_text = f"{ratio:.2f}"
                if name == OURS:
                    all_ok &= ratio >= TARGET_RATIO
                    ratio_text += f" {mark(ratio >= TARGET_RATIO)}"
                if peer.tokens_per_cpu_s > 0:
                    per_cpu_text = f"{ours.tokens_per_cpu_s / peer.tokens_per_cpu_s:.2f}"
            sqlite = by_key.get((number, OURS))
            if name == OURS_PG and sqlite is not None and sqlite.rps > 0:
                pg_ratio = ours.rps / sqlite.rps
                ratios.setdefault(f"{OURS_PG}/{OURS}", []).append(pg_ratio)
                all_ok &= pg_ratio >= TARGET_PG_RATIO
                pg_text = f"{pg_ratio:.2f} {mark(pg_ratio >= TARGET_PG_RATIO)}"
            sign_text = f"{ours.rps / sign_rate:.2f}" if sign_rate else "n/a"
            all_ok &= ours.errors == 0 and ours.p99_ms < TARGET_P99_MS
            lines.append(
                f"| {number} | {name} | {ratio_text} | {per_cpu_text} | {sign_text} "
                f"| {pg_text} | {ours.errors} {mark(ours.errors == 0)} "
                f"| {ours.p99_ms:.2f} {mark(ours.p99_ms < TARGET_P99_MS)} |"
            )
    if ratios:
        lines.append("")
    for label, values in ratios.items():
        lines.append(
            f"Mean {label} tokens/s over {len(values)} rounds: {statistics.mean(values):.2f} "
            f"(min {min(values):.2f}, max {max(values):.2f})."
        )
    for m in measurements:
        if m.db_activity is not None and m.tokens_issued:
            transactions, rows = m.db_activity
            lines.append(
                f"Round {m.round} {m.server}, the server's whole life (start-up, preflight, "
                f"warm-up, measured run) for {m.tokens_issued} tokens: {transactions} database "
                f"transactions ({1000 * transactions / m.tokens_issued:.2f} per 1,000 tokens), "
                f"{rows} rows written ({1000 * rows / m.tokens_issued:.2f} per 1,000 tokens)."
            )
    peer_errors = sum(m.result.errors for m in measurements if m.server == PEER)
    if peer_errors:
        lines.append(f"\nThe peer had {peer_errors} errors.")
    return "\n".join(lines), all_ok


def versions(peers_dir: Path) -> dict[str, str]:
    """Versions of what was measured."""
    found: dict[str, str] = {
        "python": sys.version.split()[0],
        "wrk": command_version(["wrk", "--version"]).split(" [")[0].removeprefix("wrk "),
        "openssl": command_version(["openssl", "version"]).split(" (")[0].removeprefix("OpenSSL "),
        "node": command_version(["node", "--version"]),
    }
    for package in ("timesheets", "uvicorn", "starlette", "pyjwt", "cryptography", "uvloop"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    workdir = Path(
        os.environ.get("PEERS_WORKDIR")
        or Path(os.environ.get("TMPDIR", "/tmp")) / "timesheets-peers"
    )
    for candidate in (peers_dir / "oidc-provider", workdir / "oidc-provider"):
        package_json = candidate / "node_modules" / "oidc-provider" / "package.json"
        if package_json.exists():
            found["oidc-provider"] = json.loads(package_json.read_text())["version"]
            break
    return found


# -- main --------------------------------------------------------------------------------


def wait_for_idle(limit_s: int, threshold: float = 0.15) -> float:
    """The machine's busy share over 2 s, after waiting up to `limit_s` for it to drop."""
    deadline = time.monotonic() + limit_s
    busy = machine_busy_fraction(2.0)
    while busy >= threshold and time.monotonic() < deadline:
        say(f"machine {100 * busy:.0f}% busy; waiting for it to settle")
        time.sleep(5)
        busy = machine_busy_fraction(2.0)
    return busy


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0, or 3 with --check when a target is missed."""
    args = parse_args(argv)
    stop_on_signals()
    spec: LoadSpec = args.spec
    wrk = ensure_wrk()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw_dir = REPO / "bench" / "results" / "raw" / stamp
    raw_dir.mkdir(parents=True, exist_ok=True)
    measurements: list[Measurement] = []
    sign_rates: list[float] = []
    pg_settings: dict[str, str] | None = None
    started = time.monotonic()
    with scratch("timesheets-bench-", postgres=args.postgres, keep=args.keep) as run:
        busy = wait_for_idle(args.wait_idle)
        facts = machine_facts()
        facts["busy_before_pct"] = round(100 * busy)
        if facts["busy_before_pct"] > 20:
            say(
                f"warning: the machine is {facts['busy_before_pct']}% busy before the "
                "benchmark; figures will be low and noisy"
            )
        say("openssl speed -seconds 3 -multi 2 rsa2048")
        sign_rates.append(openssl_rsa2048_sign_rate())
        say(f"RSA-2048: {sign_rates[-1]:.0f} sign/s with 2 processes")

        peer_target = Target(PEER, PEER_CLIENT_ID, PEER_CLIENT_SECRET, "/token", "/jwks", None, 300)
        peer_script = args.peers_dir / "oidc-provider" / "run.sh"
        peer_env = {k: v for k, v in os.environ.items() if not k.startswith("TIMESHEETS_")}
        ours = [(OURS, our_tenant(args, run.data_dir / "sqlite", args.database_url))]
        if run.postgres is not None:
            pg_settings = run.postgres.settings()
            database_url = run.postgres.new_database()
            ours.append((OURS_PG, our_tenant(args, run.data_dir / "pg", database_url)))

        for number in range(1, args.rounds + 1):
            # Alternate which database goes first, so neither always follows the peer.
            for name, tenant in ours if number % 2 else ours[::-1]:
                port = free_port()
                target = Target(
                    name,
                    tenant.client_id,
                    tenant.client_secret,
                    "/oauth/token",
                    "/healthz",
                    200,
                    60,
                    listeners=args.workers,
                )
                if run.postgres is not None and tenant.database_url:
                    target.activity = functools.partial(run.postgres.activity, tenant.database_url)
                measurements.append(
                    measure(
                        run.processes,
                        wrk,
                        spec,
                        target,
                        tenant.authserver_argv(port, workers=args.workers),
                        tenant.env,
                        port,
                        number,
                        raw_dir,
                    )
                )
            if not args.no_peer:
                port = free_port()
                measurements.append(
                    measure(
                        run.processes,
                        wrk,
                        spec,
                        peer_target,
                        [str(peer_script), str(port)],
                        peer_env,
                        port,
                        number,
                        raw_dir,
                    )
                )
        say("openssl speed -seconds 3 -multi 2 rsa2048 (again, after the rounds)")
        sign_rates.append(openssl_rsa2048_sign_rate())

    table, all_ok = report(measurements, sign_rates, spec, facts, args, pg_settings)
    found_versions = versions(args.peers_dir)
    print(f"# Token endpoint benchmark {stamp}\n")
    print(table)
    print("\nVersions: " + ", ".join(f"{k} {v}" for k, v in found_versions.items()))
    print(f"Raw output: {raw_dir.relative_to(REPO)}/ ({time.monotonic() - started:.0f} s in all)")
    if args.json is not None:
        document = {
            "stamp": stamp,
            "load": {
                "tool": "wrk",
                "threads": spec.threads,
                "connections": spec.connections,
                "warmup_s": spec.warmup_s,
                "duration_s": spec.duration_s,
            },
            "our_workers": args.workers,
            "database": args.database_url or "sqlite (temporary data dir)",
            "postgres": pg_settings,
            "ours_env": args.ours_env,
            "machine": facts,
            "versions": found_versions,
            "openssl_rsa2048_sign_per_s": sign_rates,
            "runs": [
                {
                    "round": m.round,
                    "server": m.server,
                    "preflight": m.preflight,
                    "db_transactions_and_rows_written": m.db_activity,
                    "tokens_issued": m.tokens_issued,
                }
                | m.result.as_dict()
                for m in measurements
            ],
            "targets_met": all_ok,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        say(f"wrote {args.json}")
    return 3 if args.check and not all_ok else 0


if __name__ == "__main__":
    sys.exit(main())
