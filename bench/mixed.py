"""Mixed read/write load on the Timesheets API: SQLite and PostgreSQL in the same run.

What it measures: our API in production mode (`timesheets api`, 2 workers) under wrk
(-t1 -c16, a 3 s warm-up, then 10 s measured, by default) with bench/lua/mixed.lua: of
every ten requests two create an entry (`POST /timesheets`, each for a new person) and
eight list entries with filters (`GET /timesheets`: a person's month, a project's
submitted entries, a span of ISO weeks, a person's entries; 20 to a page, each answer
with its X-Total-Count). Before the load each fresh database gets the same seeded
entries (--seed-people people x --seed-days days, through `POST /timesheets/upload`), so
the lists have rows to find and count.

Each round runs the API on SQLite (WAL, synchronous=FULL) and, with --postgres, on a
throw-away PostgreSQL with fsync and synchronous_commit on (bench/pg.py), each on a
fresh database and fresh processes; the two go first in turn. The authorization server
(2 workers; on PostgreSQL with --postgres) only serves discovery and the JWKS during the
load. After each run the API is stopped and every acknowledged create is looked up in
the database.

There is no peer baseline: the seed-style Node API (../shared/peers/seed-api) serves
only `POST /timesheets` and stores nothing, so it has no list to read. The figure to
watch is PostgreSQL against SQLite in the same run.

Run:   .venv/bin/python bench/mixed.py [--postgres] [--rounds 2] [--duration 10]
           [--warmup 3] [--connections 16] [--writes-per-10 2] [--json results.json]
           [--check]

Standard output gets the results (Markdown); progress goes to standard error; wrk's raw
output, the acknowledged ids and the server logs go to bench/results/raw/<stamp>-mixed/.
Targets printed beside the figures: zero errors and every acknowledged entry found in
the database (--check exits with status 3 otherwise).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_write import OURS, OURS_PG, Bench, Measurement, Workload, bench_session, measure_round
from common import (
    LUA_DIR,
    REPO,
    add_run_options,
    check_run_options,
    mark,
    say,
    stop_on_signals,
)
from tenant import as_dict

SCOPES = ("create:timesheets", "read:timesheets", "batch:upload")
PROJECTS = ("StoreZero", "Payroll", "Onboarding", "Mobile", "Support")
_MIX = re.compile(r"^MIX reads=(\d+) writes=(\d+)$", re.MULTILINE)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Mixed GET /timesheets lists and POST /timesheets creates, SQLite and "
        "PostgreSQL (loopback, wrk)."
    )
    add_run_options(parser, "our API")
    parser.add_argument(
        "--writes-per-10", type=int, default=2, help="creates in every ten requests (default 2)"
    )
    parser.add_argument("--seed-people", type=int, default=50, help="seeded people (default 50)")
    parser.add_argument(
        "--seed-days", type=int, default=40, help="seeded days per person (default 40)"
    )
    args = parser.parse_args(argv)
    args.spec = check_run_options(parser, args)
    if not 0 <= args.writes_per_10 <= 10:
        parser.error("--writes-per-10 must be 0..10")
    if not (1 <= args.seed_people <= 10_000 and 1 <= args.seed_days <= 300):
        parser.error("--seed-people must be 1..10000 and --seed-days 1..300")
    return args


def seed_items(prefix: str, people: int, days: int) -> list[dict[str, Any]]:
    """`people` x `days` entries of 2 h from 2025-01-01 on, projects in turn."""
    start = date(2025, 1, 1)
    return [
        {
            "user_id": f"{prefix}{person}",
            "date": (start + timedelta(days=day)).isoformat(),
            "project": PROJECTS[(person + day) % len(PROJECTS)],
            "hours": 2,
        }
        for person in range(people)
        for day in range(days)
    ]


def seed(base: str, token: str, items: list[dict[str, Any]], batch: int = 500) -> None:
    """Upload `items` in batches; every one must be created."""
    with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {token}"}) as http:
        for start in range(0, len(items), batch):
            response = http.post(f"{base}/timesheets/upload", json=items[start : start + batch])
            body = response.json() if response.status_code == 200 else {}
            if body.get("created") != len(items[start : start + batch]):
                raise RuntimeError(f"seeding: HTTP {response.status_code}: {response.text[:500]}")


def mix_counts(raw: Path) -> tuple[int, int]:
    """Reads and writes the measured run issued (the MIX line of mixed.lua)."""
    match = _MIX.search(raw.read_text())
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


# -- report ------------------------------------------------------------------------------


@dataclass
class Row:
    """One measured run and the share of reads in it."""

    measurement: Measurement
    reads: int
    writes: int


def report(rows: list[Row], bench: Bench) -> tuple[str, bool]:
    """The Markdown results and whether every target was met."""
    args = bench.args
    lines = [
        *bench.header(
            f"bench/lua/mixed.lua: {args.writes_per_10} creates in every 10 requests, the "
            f"rest filtered lists; {args.seed_people * args.seed_days} seeded entries"
        ),
        "",
        "| round | server | req/s | reads issued | creates issued | p50 ms | p90 ms | p99 ms "
        "| max ms | errors (target 0) | creates acknowledged | found in DB | missing (target 0) "
        "| API CPU s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    all_ok = True
    for row in rows:
        m, r, d = row.measurement, row.measurement.result, row.measurement.durability
        assert d is not None
        all_ok &= r.errors == 0 and d.missing == 0
        lines.append(
            f"| {m.round} | {m.server} | {r.rps:.0f} | {row.reads} | {row.writes} "
            f"| {r.p50_ms:.2f} | {r.p90_ms:.2f} | {r.p99_ms:.2f} | {r.max_ms:.2f} "
            f"| {r.errors} {mark(r.errors == 0)} | {d.acknowledged} | {d.found} "
            f"| {d.missing} {mark(d.missing == 0)} | {r.server_cpu_s:.1f} |"
        )
    by_key = {(row.measurement.round, row.measurement.server): row for row in rows}
    ratios = [
        by_key[(n, OURS_PG)].measurement.result.rps / by_key[(n, OURS)].measurement.result.rps
        for n in sorted({row.measurement.round for row in rows})
        if (n, OURS_PG) in by_key and (n, OURS) in by_key
    ]
    if ratios:
        lines.append(
            f"\n{OURS_PG}/{OURS} req/s by round: "
            + ", ".join(f"{ratio:.2f}" for ratio in ratios)
            + f" (mean {statistics.mean(ratios):.2f})."
        )
    lines.append(
        "No peer baseline: the seed-style Node API serves only POST /timesheets (no list)."
    )
    return "\n".join(lines), all_ok


# -- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0, or 3 with --check when a target is missed."""
    args = parse_args(argv)
    stop_on_signals()
    rows: list[Row] = []
    started = time.monotonic()
    with bench_session(args, "mixed", SCOPES) as bench:
        seed_prefix = f"{bench.run_id}-seed-"
        items = seed_items(seed_prefix, args.seed_people, args.seed_days)

        def prepare(base: str) -> None:
            say(f"seeding {len(items)} entries")
            seed(base, bench.token, items)

        workload = Workload(
            script=LUA_DIR / "mixed.lua",
            path="/",
            env={
                "SEED_PREFIX": seed_prefix,
                "SEED_USERS": str(args.seed_people),
                "PROJECTS": ",".join(PROJECTS),
                "WRITES_PER_10": str(args.writes_per_10),
            },
            prepare=prepare,
        )
        for number in range(1, args.rounds + 1):
            for measurement in measure_round(bench, number, workload):
                raw = bench.raw_dir / f"{measurement.server}-r{number}.txt"
                rows.append(Row(measurement, *mix_counts(raw)))
    spec, stamp, raw_dir = bench.spec, bench.facts["stamp"], bench.raw_dir

    table, all_ok = report(rows, bench)
    print(f"# Mixed read/write benchmark {stamp}\n")
    print(table)
    print(f"Raw output: {raw_dir.relative_to(REPO)}/ ({time.monotonic() - started:.0f} s in all)")
    print(f"Targets met: {'yes' if all_ok else 'no'}")
    if args.json is not None:
        document = {
            "stamp": stamp,
            "load": spec.__dict__ | {"writes_per_10": args.writes_per_10},
            "seeded_entries": len(items),
            "our_workers": args.workers,
            "postgres": bench.pg_settings,
            "machine": bench.facts,
            "runs": [
                row.measurement.as_dict() | {"reads": row.reads, "writes": row.writes}
                for row in rows
            ],
            "targets_met": all_ok,
        }
        args.json.write_text(json.dumps(as_dict(document), indent=2) + "\n")
        say(f"wrote {args.json}")
    return 3 if args.check and not all_ok else 0


if __name__ == "__main__":
    sys.exit(main())
