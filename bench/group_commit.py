"""What a create costs at each size of a shared commit, in process, without HTTP.

What it measures: the API's create use case (`entries.create`: validation, the entry,
the group-commit writer's turn with the hour-cap sums, the inserts and the WAL sync) on
a SQLite file with the service's default durability, for turns of 1, 2, 4, 8 and 16
creates. Each turn is that many creates submitted together (one commit; the script
checks it), after a second connection has committed to the same file, as the other
worker does between this one's turns, so every turn starts with SQLite's page cache
reset. The figure is the process's CPU time (event loop, writer thread and the kernel
on their behalf, the WAL sync's included; the time spent waiting for the disk is not)
per create; sizes alternate in chunks and each size's figure is its
fastest chunk (the machine is shared: the fastest chunk is the least disturbed) with the
median beside it. A least-squares line through the fastest chunks splits a turn's cost
into what every turn pays whatever its size and what each create adds.

It shows why the writer shares commits: in the server a turn holds about 7 creates
(16 connections over 2 workers), and the part every turn pays is most of a create's
cost at that size.

Run:   .venv/bin/python bench/group_commit.py [--sizes 1 2 4 8 16] [--creates 24000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from timesheets import db
from timesheets.api import entries
from timesheets.api.app import MIGRATIONS, create_context
from timesheets.api.context import ApiContext
from timesheets.bearer.claims import Principal
from timesheets.settings import ApiSettings

CHUNKS = 8
MACHINE = Principal(
    subject="import-job@clients",
    client_id="import-job",
    scopes=frozenset({"create:timesheets"}),
    claims={"gty": "client-credentials"},
)


class Turns:
    """The API's process state on a fresh file, and the other worker's connection."""

    def __init__(self, context: ApiContext, path: str) -> None:
        self.context = context
        self.other = sqlite3.connect(path, isolation_level=None)
        self.other.execute("PRAGMA wal_autocheckpoint=10000")  # as the writers
        self.other.execute("CREATE TABLE other_worker (n INTEGER)")
        self.people = itertools.count()

    async def turn(self, size: int) -> float:
        """One commit of `size` new seed-style entries; the process CPU seconds it took."""
        self.other.execute("INSERT INTO other_worker VALUES (1)")
        bodies = [
            {
                "user_type": "Employee",
                "user_id": f"person-{next(self.people):08d}",
                "year": 2026,
                "week": 12,
                "project": "Apollo",
                "hours": 37.5,
            }
            for _ in range(size)
        ]
        commits = self.context.writer.commits
        started = time.process_time()
        replies = await asyncio.gather(
            *(entries.create(self.context, MACHINE, body, None) for body in bodies)
        )
        spent = time.process_time() - started
        assert all(reply.status == 201 for reply in replies), replies
        assert self.context.writer.commits == commits + 1, "the creates did not share a commit"
        return spent


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares (per turn, per create) through (size, seconds a turn) points."""
    sizes = [float(size) for size, _ in points]
    costs = [cost for _, cost in points]
    slope, intercept = statistics.linear_regression(sizes, costs)
    return intercept, slope


async def measure(sizes: list[int], creates: int) -> dict[int, list[float]]:
    """Seconds of CPU a create, per chunk, for each size."""
    chunks: dict[int, list[float]] = {size: [] for size in sizes}
    with tempfile.TemporaryDirectory(prefix="timesheets-group-commit-") as folder:
        settings = ApiSettings(
            issuer="http://127.0.0.1:9/", audience="https://timesheets", data_dir=Path(folder)
        )
        context = create_context(settings)
        turns: Turns | None = None
        try:
            await db.upgrade(context.engine, MIGRATIONS, "head")
            path = context.engine.url.database
            assert path is not None
            turns = Turns(context, path)
            for size in sizes:  # warm-up: the file's first pages and the statement caches
                for _ in range(max(1, 2000 // size)):
                    await turns.turn(size)
            per_chunk = max(1, creates // CHUNKS)
            for _ in range(CHUNKS):
                for size in sizes:
                    count = max(1, per_chunk // size)
                    spent = sum([await turns.turn(size) for _ in range(count)])
                    chunks[size].append(spent / (count * size))
        finally:
            if turns is not None:
                turns.other.close()
            await context.writer.close()
            await context.http.aclose()
            await context.engine.dispose()
    return chunks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--creates", type=int, default=24000, help="measured creates per size")
    args = parser.parse_args(argv)
    chunks = asyncio.run(measure(args.sizes, args.creates))
    print(f"# Creates per shared commit, in process, {args.creates} creates a size")
    print()
    print("| creates a commit | µs of CPU a create (fastest chunk) | (median chunk) |")
    print("|---:|---:|---:|")
    for size, values in chunks.items():
        print(f"| {size} | {min(values) * 1e6:.1f} | {statistics.median(values) * 1e6:.1f} |")
    if len(chunks) > 1:
        per_turn, per_create = fit([(size, min(v) * size) for size, v in chunks.items()])
        print()
        print(
            f"Fit through the fastest chunks: {per_turn * 1e6:.0f} µs every turn pays, "
            f"{per_create * 1e6:.0f} µs each create adds."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
