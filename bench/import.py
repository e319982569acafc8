"""Import-job throughput: 100,000 rows through the real job, the API and SQLite.

What it measures: `timesheets import` of a generated 100,000-row generic CSV (distinct
people, days and projects, each row a new entry) into our API in production mode
(`timesheets api`, 2 workers, SQLite with its default durability, WAL and
synchronous=FULL), with its token from our authorization server (client_credentials).
It checks that the API's database then holds exactly one entry per row, re-runs the
same file (every row already present: nothing may be created), and in the same run
inserts the same rows with the standard library's `sqlite3` `executemany`, in one
transaction, into a table made from the API's own `entries` DDL and indexes, in WAL
mode with synchronous=FULL: the rate a bare insert reaches on this disk.

The job's peak memory is its VmHWM (peak resident set) read from /proc every 20 ms
while it runs.

Run:   .venv/bin/python bench/import.py [--rows 100000] [--json results.json] [--check]

Standard output gets the results (Markdown); progress goes to standard error; the
servers' logs and the job's output go to bench/results/raw/<stamp>-import/.
Targets printed beside the figures: import >= 0.25 x the raw insert rate, re-run time
<= 0.1 x the first import's, peak memory of the job < 150 MB, every row stored once.
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HOST, REPO, Processes, machine_facts, say, stop_on_signals
from tenant import (
    API,
    Tenant,
    loopback_port,
    query_api_db,
    service_env,
    sqlite_path,
    start_server,
)

SCOPES = ("create:timesheets", "batch:upload", "read:timesheets")
PROJECTS = ("StoreZero", "Payroll", "Onboarding", "Mobile", "Support")
IMPORT_RATIO_TARGET = 0.25
RERUN_RATIO_TARGET = 0.1
MEMORY_TARGET_MB = 150.0


@dataclass
class JobRun:
    """One run of the import job."""

    seconds: float
    peak_mb: float
    exit_code: int
    summary: dict[str, Any]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description="Import job vs a raw sqlite3 executemany.")
    parser.add_argument("--rows", type=int, default=100_000, help="rows (default 100000)")
    parser.add_argument("--workers", type=int, default=2, help="our API's workers (default 2)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="the job's entries per upload (its default)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 3 when a target is missed"
    )
    args = parser.parse_args(argv)
    if not 1_000 <= args.rows <= 2_000_000:
        parser.error("--rows must be 1000..2000000")
    return args


def rows_of(count: int) -> list[dict[str, str]]:
    """`count` distinct rows: 400 people, one row per person, day and project."""
    rows = []
    first = date(2025, 1, 6)
    for n in range(count):
        person = n % 400
        slot = n // 400
        day = first + timedelta(days=slot // len(PROJECTS))
        rows.append(
            {
                "external_id": f"bench-{n}",
                "user_id": f"contractor-{person:03d}",
                "user_type": "Contractor",
                "date": day.isoformat(),
                "project": PROJECTS[slot % len(PROJECTS)],
                "hours": "1.25",
                "description": f"work item {n}",
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """The rows as a generic export."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def run_job(
    tenant: Tenant,
    issuer: str,
    api_url: str,
    source: Path,
    state: Path,
    log: Path,
    batch_size: int | None = None,
) -> JobRun:
    """Run `timesheets import` and watch its peak resident set."""
    env = service_env(
        {
            "TIMESHEETS_ISSUER": issuer,
            "TIMESHEETS_AUDIENCE": API,
            "TIMESHEETS_API_URL": api_url,
            "TIMESHEETS_CLIENT_ID": tenant.client_id,
            "TIMESHEETS_CLIENT_SECRET": tenant.client_secret,
        }
    )
    argv = [tenant.command, "import", str(source), "--state-dir", str(state)]
    if batch_size is not None:
        argv += ["--batch-size", str(batch_size)]
    peak_kb = 0
    started = time.monotonic()
    with log.open("wb") as output:
        job = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output
        )
        status = Path(f"/proc/{job.pid}/status")
        while job.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
    seconds = time.monotonic() - started
    summary: dict[str, Any] = {}
    for line in log.read_text(errors="replace").splitlines():
        if '"import finished"' in line:
            summary = json.loads(line).get("summary", {})
    return JobRun(seconds, peak_kb / 1024, job.returncode, summary)


def raw_insert_rate(api_db: Path, rows: list[dict[str, str]], folder: Path) -> float:
    """Rows/s of one executemany of the rows into a copy of the API's entries table."""
    source = sqlite3.connect(f"file:{api_db}?mode=ro", uri=True)
    ddl = [
        sql
        for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'entries' AND sql IS NOT NULL "
            "ORDER BY type DESC"
        )
    ]
    columns = [row[1] for row in source.execute("PRAGMA table_info(entries)")]
    source.close()
    target = sqlite3.connect(folder / "raw.db", isolation_level=None)
    target.execute("PRAGMA journal_mode=WAL")
    target.execute("PRAGMA synchronous=FULL")
    for statement in ddl:
        target.execute(statement)
    now = datetime.now(UTC).isoformat()
    values = []
    for n, row in enumerate(rows):
        day = date.fromisoformat(row["date"])
        year, week, _ = day.isocalendar()
        record = {
            "id": f"{n:032x}",
            "user_type": row["user_type"],
            "user_id": row["user_id"],
            "project": row["project"],
            "hundredths": 125,
            "iso_year": year,
            "iso_week": week,
            "entry_date": row["date"],
            "description": row["description"],
            "status": "submitted",
            "created_by_subject": "bench@clients",
            "created_by_client": "bench",
            "external_id": row["external_id"],
            "created_at": now,
            "updated_at": now,
        }
        values.append(tuple(record.get(column) for column in columns))
    marks = ", ".join("?" for _ in columns)
    started = time.perf_counter()
    target.execute("BEGIN")
    target.executemany(f"INSERT INTO entries VALUES ({marks})", values)  # noqa: S608
    target.execute("COMMIT")
    seconds = time.perf_counter() - started
    target.close()
    return len(rows) / seconds


def report(
    args: argparse.Namespace,
    first: JobRun,
    again: JobRun,
    stored: int,
    raw_rate: float,
    facts: dict[str, Any],
) -> tuple[str, bool]:
    """The Markdown results and whether every target was met."""
    rate = args.rows / first.seconds
    rerun_rate = args.rows / again.seconds
    import_ratio = rate / raw_rate
    rerun_ratio = again.seconds / first.seconds
    peak = max(first.peak_mb, again.peak_mb)
    checks = {
        "import / raw insert rate >= 0.25": import_ratio >= IMPORT_RATIO_TARGET,
        "re-run time / first time <= 0.1": rerun_ratio <= RERUN_RATIO_TARGET,
        "peak memory < 150 MB": peak < MEMORY_TARGET_MB,
        "every row stored once": stored == args.rows,
        "re-run created nothing": again.summary.get("created") == 0,
        "both runs exit 0": first.exit_code == 0 and again.exit_code == 0,
    }

    def mark(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    lines = [
        f"Machine: {facts['nproc']} cores, {facts['cpu_model']}, load average "
        f"{facts['loadavg_1m']}; our API: {args.workers} workers, SQLite (WAL, "
        "synchronous=FULL)",
        "",
        "| run | rows | seconds | rows/s | peak MB | exit | created | already present |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| import | {args.rows} | {first.seconds:.2f} | {rate:.0f} | {first.peak_mb:.0f} | "
        f"{first.exit_code} | {first.summary.get('created')} | "
        f"{first.summary.get('already_present')} |",
        f"| re-run | {args.rows} | {again.seconds:.2f} | {rerun_rate:.0f} | "
        f"{again.peak_mb:.0f} | {again.exit_code} | {again.summary.get('created')} | "
        f"{again.summary.get('already_present')} |",
        f"| raw sqlite3 executemany | {args.rows} | {args.rows / raw_rate:.2f} | "
        f"{raw_rate:.0f} | | | | |",
        "",
        f"Entries in the API's database afterwards: {stored} (rows: {args.rows})",
        "",
        "| target | value | |",
        "|---|---:|---|",
        f"| import / raw insert rate >= 0.25 | {import_ratio:.2f} | "
        f"{mark(checks['import / raw insert rate >= 0.25'])} |",
        f"| re-run time / first time <= 0.1 | {rerun_ratio:.3f} | "
        f"{mark(checks['re-run time / first time <= 0.1'])} |",
        f"| peak memory of the job < 150 MB | {peak:.0f} | "
        f"{mark(checks['peak memory < 150 MB'])} |",
        f"| every row stored once | {stored} | {mark(checks['every row stored once'])} |",
        f"| re-run created nothing | {again.summary.get('created')} | "
        f"{mark(checks['re-run created nothing'])} |",
    ]
    return "\n".join(lines), all(checks.values())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0, or 3 with --check when a target is missed."""
    args = parse_args(argv)
    stop_on_signals()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw_dir = REPO / "bench" / "results" / "raw" / f"{stamp}-import"
    raw_dir.mkdir(parents=True, exist_ok=True)
    processes = Processes()
    with tempfile.TemporaryDirectory(prefix="timesheets-bench-import-") as folder:
        data_dir = Path(folder)
        try:
            facts = machine_facts()
            say(f"generating {args.rows} rows")
            rows = rows_of(args.rows)
            source = data_dir / "export.csv"
            write_csv(source, rows)
            tenant = Tenant(data_dir / "auth")
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
                ready_path="/healthz",
            )
            api_port = loopback_port()
            api_dir = data_dir / "api"
            api = start_server(
                processes,
                "timesheets-api",
                tenant.api_argv(api_port, issuer, api_dir, workers=args.workers, database_url=""),
                service_env(),
                api_port,
                raw_dir / "api.log",
                ready_path="/healthz",
                listeners=args.workers,
            )
            api_url = f"http://{HOST}:{api_port}"
            state = data_dir / "state"
            say("first import")
            first = run_job(
                tenant, issuer, api_url, source, state, raw_dir / "import-1.log", args.batch_size
            )
            say(f"first import: {first.seconds:.1f} s, exit {first.exit_code}")
            say("re-run")
            again = run_job(
                tenant, issuer, api_url, source, state, raw_dir / "import-2.log", args.batch_size
            )
            say(f"re-run: {again.seconds:.1f} s, exit {again.exit_code}")
            processes.stop(api)
            (stored,) = query_api_db(
                api_dir,
                "",
                "SELECT count(*) FROM entries WHERE external_id LIKE 'generic:bench-%'",
                {},
            )[0]
            say("raw sqlite3 executemany")
            raw_rate = raw_insert_rate(sqlite_path(api_dir), rows, data_dir)
        finally:
            processes.stop_all()
    text, met = report(args, first, again, int(stored), raw_rate, facts)
    print(f"# Import benchmark {stamp}\n")
    print(text)
    print(f"\nCommand: .venv/bin/python bench/import.py --rows {args.rows}")
    print(f"Raw output: {raw_dir.relative_to(REPO)}/")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "first": first.__dict__,
                    "again": again.__dict__,
                    "stored": stored,
                    "raw_rate": raw_rate,
                },
                indent=2,
            )
        )
    return 3 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
