"""Soak: both services on PostgreSQL under a mixed load for minutes, then the accounts.

What it runs: a throw-away PostgreSQL server (started from the machine's binaries, as
the test suite does) with one database per service; `timesheets authserver` and
`timesheets api`, 2 workers each; then, side by side for `--minutes` (default 10) after
a 10 s warm-up, wrk at 16 connections asking the token endpoint for tokens and wrk at
48 connections on the API (bench/lua/soak.lua: of every ten requests five creates,
three lists, one approvals list and one approval). 64 connections in all; each wrk is
capped at its duration plus 15 s, so the run stops on its own.

What it prints: requests and answers by status per route (from the services' own
`/metrics`, counted over the measured time), p50/p99 per route (upper bounds of the
latency histogram buckets), every process's resident memory at the start and the end of
the measured time, and the writes check: every entry the API acknowledged (201) must be
in the database afterwards.

Run:   make soak            (10 minutes)
       .venv/bin/python bench/soak.py --minutes 2

Passes (exit 0) with zero 5xx, no other failed request, zero lost writes and every
process's RSS grown by under 10 %; exits 3 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import re
import secrets
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from tests.pg import start_postgres

from common import (
    HOST,
    LUA_DIR,
    REPO,
    LoadSpec,
    Managed,
    Processes,
    ensure_wrk,
    group_pids,
    machine_facts,
    run_wrk,
    say,
    stop_on_signals,
)
from tenant import API, Tenant, loopback_port, query_api_db, service_env, start_server

SCOPES = (
    "read:timesheets",
    "create:timesheets",
    "delete:timesheets",
    "approve:timesheets",
    "batch:upload",
)
_SAMPLE = re.compile(r"^(\w+)\{(.*)\} ([0-9.e+-]+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
Key = tuple[str, ...]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description="Mixed load on PostgreSQL, then the accounts.")
    parser.add_argument("--minutes", type=float, default=10.0, help="measured minutes")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up seconds")
    args = parser.parse_args(argv)
    if not 0.1 <= args.minutes <= 120:
        parser.error("--minutes must be 0.1..120")
    return args


def scrape(url: str) -> dict[Key, float]:
    """The request counters and latency buckets of a service, by their labels."""
    samples: dict[Key, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels, value = match.groups()
        if not name.startswith("timesheets_http_"):
            continue
        pairs = dict(_LABEL.findall(labels))
        key = (name, *(f"{k}={v}" for k, v in sorted(pairs.items())))
        samples[key] = float(value)
    return samples


def delta(after: dict[Key, float], before: dict[Key, float]) -> dict[Key, float]:
    """What the counters gained between two scrapes."""
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def label(key: Key, name: str) -> str:
    """One label's value in a sample key."""
    for item in key[1:]:
        if item.startswith(f"{name}="):
            return item.split("=", 1)[1]
    return ""


def routes_table(gained: dict[Key, float]) -> tuple[list[str], int]:
    """Markdown rows per route (count by status, p50, p99) and the number of 5xx."""
    statuses: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    buckets: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    server_errors = 0
    for key, value in gained.items():
        service, route = label(key, "service"), label(key, "route")
        if key[0] == "timesheets_http_requests_total" and value > 0:
            status = label(key, "status")
            statuses[(service, route, label(key, "method"))][status] = int(value)
            if status.startswith("5"):
                server_errors += int(value)
        elif key[0] == "timesheets_http_request_duration_seconds_bucket":
            bound = label(key, "le")
            buckets[(service, route)].append(
                (float("inf") if bound == "+Inf" else float(bound), value)
            )
    rows = []
    for (service, route, method), counts in sorted(statuses.items()):
        ordered = sorted(buckets[(service, route)])
        answered = ", ".join(f"{status}: {count}" for status, count in sorted(counts.items()))
        rows.append(
            f"| {service} | {method} {route} | {sum(counts.values())} | {answered} | "
            f"{quantile(ordered, 0.5)} | {quantile(ordered, 0.99)} |"
        )
    return rows, server_errors


def quantile(ordered: list[tuple[float, float]], q: float) -> str:
    """The upper bound (ms) of the histogram bucket holding quantile `q`."""
    total = ordered[-1][1] if ordered else 0.0
    for bound, cumulative in ordered:
        if total and cumulative >= q * total:
            return "> 5000" if bound == float("inf") else f"≤ {bound * 1000:g}"
    return "n/a"


def resident_mb(server: Managed) -> dict[int, float]:
    """Resident memory of each process of a server's group, in MB."""
    sizes = {}
    for pid in group_pids(server.pgid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[pid] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return sizes


def machine_token(issuer: str, client_id: str, secret: str) -> str:
    """A token holding every scope, for the API load."""
    response = httpx.post(
        f"{issuer}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "audience": API,
            "client_id": client_id,
            "client_secret": secret,
        },
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def main(argv: list[str] | None = None) -> int:
    """Run the soak; 0 when every target holds, 3 otherwise."""
    args = parse_args(argv)
    stop_on_signals()
    wrk = ensure_wrk()
    seconds = int(args.minutes * 60)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw_dir = REPO / "bench" / "results" / "raw" / f"{stamp}-soak"
    raw_dir.mkdir(parents=True, exist_ok=True)
    tag = f"soak{secrets.token_hex(3)}"
    processes = Processes()
    postgres = start_postgres()
    try:
        with tempfile.TemporaryDirectory(prefix="timesheets-soak-") as folder:
            data = Path(folder)
            auth_db, api_db = postgres.new_database(), postgres.new_database()
            tenant = Tenant(data / "auth", database_url=auth_db)
            tenant.configure(SCOPES)
            basic = tenant.admin(
                *("client", "create", "--name", "soak-basic", "--type", "machine"),
                *("--auth-method", "client_secret_basic"),
            )
            fields = dict(
                line.split(": ", 1) for line in basic.splitlines() if line.startswith("client_")
            )
            basic_id, basic_secret = fields["client_id"].strip(), fields["client_secret"].strip()
            tenant.admin("grant", "add", "--", basic_id, API, "read:timesheets")
            as_port, api_port = loopback_port(), loopback_port()
            issuer = f"http://{HOST}:{as_port}"
            auth = start_server(
                processes,
                "authserver",
                tenant.authserver_argv(as_port, workers=2),
                tenant.env,
                as_port,
                raw_dir / "authserver.log",
                ready_path="/readyz",
                listeners=2,
            )
            api = start_server(
                processes,
                "timesheets-api",
                tenant.api_argv(api_port, issuer, data / "api", workers=2, database_url=api_db),
                service_env(),
                api_port,
                raw_dir / "api.log",
                ready_path="/readyz",
                listeners=2,
            )
            api_url = f"http://{HOST}:{api_port}"
            token = machine_token(issuer, tenant.client_id, tenant.client_secret)
            ack_file = raw_dir / "acknowledged.txt"
            token_env = {
                "BASIC": base64.b64encode(f"{basic_id}:{basic_secret}".encode()).decode(),
                "TOKEN_BODY": f"grant_type=client_credentials&audience={API}",
            }
            api_env = {"ACCESS_TOKEN": token, "RUN_TAG": tag, "ACK_FILE": str(ack_file)}
            say(f"warm-up {args.warmup} s")
            with ThreadPoolExecutor(2) as pool:
                warm = [
                    pool.submit(
                        run_wrk,
                        wrk,
                        LoadSpec(1, 16, args.warmup, 0),
                        LUA_DIR / "token.lua",
                        f"{issuer}/oauth/token",
                        token_env,
                        duration_s=args.warmup,
                    ),
                    pool.submit(
                        run_wrk,
                        wrk,
                        LoadSpec(1, 48, args.warmup, 0),
                        LUA_DIR / "soak.lua",
                        f"{api_url}/",
                        api_env | {"ACK_FILE": str(raw_dir / "warm.txt")},
                        duration_s=args.warmup,
                    ),
                ]
                for future in warm:
                    future.result()
            facts = machine_facts()
            before = {**scrape(issuer), **scrape(api_url)}
            rss_start = {"authserver": resident_mb(auth), "api": resident_mb(api)}
            say(f"measured load for {seconds} s")
            with ThreadPoolExecutor(2) as pool:
                tokens_run = pool.submit(
                    run_wrk,
                    wrk,
                    LoadSpec(1, 16, seconds, 0),
                    LUA_DIR / "token.lua",
                    f"{issuer}/oauth/token",
                    token_env,
                    duration_s=seconds,
                    raw_path=raw_dir / "wrk-token.txt",
                )
                api_run = pool.submit(
                    run_wrk,
                    wrk,
                    LoadSpec(1, 48, seconds, 0),
                    LUA_DIR / "soak.lua",
                    f"{api_url}/",
                    api_env,
                    duration_s=seconds,
                    raw_path=raw_dir / "wrk-api.txt",
                )
                token_result, api_result = tokens_run.result(), api_run.result()
            rss_end = {"authserver": resident_mb(auth), "api": resident_mb(api)}
            gained = delta({**scrape(issuer), **scrape(api_url)}, before)
            processes.stop(api)
            processes.stop(auth)
            acknowledged = set((raw_dir / "warm.txt").read_text().split()) | set(
                ack_file.read_text().split()
            )
            stored = {
                str(row[0])
                for row in query_api_db(
                    data / "api",
                    api_db,
                    "SELECT user_id FROM entries WHERE user_id LIKE :p",
                    {"p": f"{tag}-%"},
                )
            }
    finally:
        processes.stop_all()
        postgres.stop()
    rows, server_errors = routes_table(gained)
    lost = acknowledged - stored
    growth = []
    for name in ("authserver", "api"):
        for pid, start_mb in sorted(rss_start[name].items()):
            end_mb = rss_end[name].get(pid)
            change = (end_mb - start_mb) / start_mb if end_mb else 0.0
            growth.append((name, pid, start_mb, end_mb, change))
    worst = max((g[4] for g in growth), default=0.0)
    refused = token_result.errors + api_result.errors
    ok = server_errors == 0 and refused == 0 and not lost and worst < 0.10
    print(f"# Soak {stamp}\n")
    print(
        f"{args.minutes:g} min measured after a {args.warmup} s warm-up; PostgreSQL "
        "throw-away server; 2 workers per service; machine: "
        f"{facts['nproc']} cores, load average {facts['loadavg_1m']}\n"
    )
    print(
        f"wrk token endpoint (16 connections): {token_result.requests} requests, "
        f"{token_result.rps:.0f}/s, p50 {token_result.p50_ms:.1f} ms, p99 "
        f"{token_result.p99_ms:.1f} ms, non-2xx {token_result.non2xx}, socket errors "
        f"{token_result.errors}"
    )
    print(
        f"wrk API mix (48 connections): {api_result.requests} requests, "
        f"{api_result.rps:.0f}/s, p50 {api_result.p50_ms:.1f} ms, p99 "
        f"{api_result.p99_ms:.1f} ms, non-2xx {api_result.non2xx}, socket errors "
        f"{api_result.errors}\n"
    )
    print("Per route, from the services' own metrics (time inside the service):\n")
    print("| service | route | requests | answers by status | p50 ms | p99 ms |")
    print("|---|---|---:|---|---:|---:|")
    print("\n".join(rows))
    print("\n| process | pid | RSS start MB | RSS end MB | growth |")
    print("|---|---:|---:|---:|---:|")
    for name, pid, start_mb, end_mb, change in growth:
        end_text = f"{end_mb:.1f}" if end_mb else "gone"
        print(f"| {name} | {pid} | {start_mb:.1f} | {end_text} | {100 * change:+.1f} % |")
    print(
        f"\nWrites acknowledged (201): {len(acknowledged)}; found in the database: "
        f"{len(acknowledged & stored)}; lost: {len(lost)}"
    )
    print(
        f"5xx answers: {server_errors}; other failed requests: {refused}; largest RSS "
        f"growth: {100 * worst:+.1f} % "
        f"-> {'PASS' if ok else 'FAIL'}"
    )
    print(f"\nCommand: .venv/bin/python bench/soak.py --minutes {args.minutes:g}")
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
