"""One SQLite writer turn in process: the schema at head against an earlier revision.

What it measures: the part of a durable write that runs while a worker holds the
writers' turn, with no HTTP and no WAL sync (the writer syncs after its turn). Each turn
is what the group-commit writer runs for a batch of seed-style creates: BEGIN IMMEDIATE,
the hour-cap sums, the bulk inserts of the entries and their audit events
(`repository.insert_many`), COMMIT, on the writer's own engine
(`db.create_sync_sqlite_engine`: its page cache and checkpoint settings). Before each
turn a second connection commits a small write to the same file, as the other worker
does between this one's turns, so every turn starts with SQLite's page cache reset.

Two files are made in a temporary folder, one migrated to head and one to the baseline
revision (`--baseline`, default the one before head), and the two run alternately in
chunks of turns; each file's figure is its fastest chunk (the machine is shared: the
fastest chunk is the one least disturbed) and the median chunk. Entries are week-level,
like the seed's body, each for a new person, so no hour cap is reached.

Run:   .venv/bin/python bench/writer_turn.py [--batch 7] [--turns 6000] [--baseline REV]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from timesheets import db
from timesheets.api import repository as repo
from timesheets.api.app import MIGRATIONS

CHUNKS = 10
WEEKLY_CAP = 168 * 100


def previous_revision() -> str:
    """The revision before head."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    revision = scripts.get_revision(scripts.get_current_head())
    assert revision is not None
    assert isinstance(revision.down_revision, str)
    return revision.down_revision


def migrated(path: Path, revision: str) -> Engine:
    """The writer's synchronous engine on a new file migrated to `revision`."""
    # The writer commits at NORMAL and syncs the WAL itself once its turn is over
    # (`GroupCommitWriter`): the turn holds no sync.
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}", synchronous="NORMAL")
    asyncio.run(db.upgrade(engine, MIGRATIONS, revision))
    sync = db.create_sync_sqlite_engine(engine)
    asyncio.run(engine.dispose())
    return sync


def people() -> Iterator[str]:
    """A new person for every entry."""
    n = 0
    while True:
        n += 1
        yield f"person-{n:08d}"


class Writer:
    """A file, its writer's connection, and the other worker's."""

    def __init__(self, path: Path, revision: str) -> None:
        self.revision = revision
        self.engine = migrated(path, revision)
        self.connection = self.engine.connect().execution_options(**{db.IMMEDIATE: True})
        self.other = sqlite3.connect(path, isolation_level=None)
        # As the other worker's writer: checkpoints at the same WAL size, whichever commits.
        self.other.execute("PRAGMA wal_autocheckpoint=10000")
        self.other.execute("CREATE TABLE other_worker (n INTEGER)")
        self.names = people()
        self.chunks: list[float] = []

    def turn(self, size: int, now: datetime) -> float:
        """One turn of `size` new entries; its seconds."""
        self.other.execute("INSERT INTO other_worker VALUES (1)")
        batch = [
            repo.NewEntry(
                next(self.names),
                "Employee",
                "Project-X",
                800,
                2026,
                10,
                None,
                None,
                "import-job@clients",
                "import-job",
            )
            for _ in range(size)
        ]
        started = time.perf_counter()
        with self.connection.begin():
            results = repo.insert_many(self.connection, batch, lambda _: WEEKLY_CAP, now)
        elapsed = time.perf_counter() - started
        assert all(isinstance(r, dict) for r in results), results
        return elapsed

    def close(self) -> None:
        self.connection.close()
        self.engine.dispose()
        self.other.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=7, help="entries per turn")
    parser.add_argument("--turns", type=int, default=6000, help="measured turns per file")
    parser.add_argument("--baseline", default=None, help="revision to compare head with")
    args = parser.parse_args(argv)
    baseline = args.baseline or previous_revision()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="timesheets-writer-turn-") as folder:
        writers = [
            Writer(Path(folder) / "head.db", "head"),
            Writer(Path(folder) / "base.db", baseline),
        ]
        for writer in writers:  # warm-up: the files' first pages and the statement caches
            for _ in range(500):
                writer.turn(args.batch, now)
        per_chunk = max(1, args.turns // CHUNKS)
        for _ in range(CHUNKS):
            for writer in writers:
                total = sum(writer.turn(args.batch, now) for _ in range(per_chunk))
                writer.chunks.append(total / per_chunk)
        for writer in writers:
            writer.close()
    head, base = writers
    print(f"# Writer turn, {args.batch} week-level entries a turn, {per_chunk * CHUNKS} turns each")
    print()
    print("| schema | fastest chunk, µs a turn | median chunk, µs a turn | µs an entry (fastest) |")
    print("|---|---:|---:|---:|")
    for writer in writers:
        fastest, median = min(writer.chunks), statistics.median(writer.chunks)
        print(
            f"| {writer.revision} | {fastest * 1e6:.0f} | {median * 1e6:.0f} "
            f"| {fastest * 1e6 / args.batch:.1f} |"
        )
    print()
    ratio = min(head.chunks) / min(base.chunks)
    median_ratio = statistics.median(head.chunks) / statistics.median(base.chunks)
    print(f"head / {baseline}: {ratio:.2f} (fastest chunks), {median_ratio:.2f} (median chunks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
