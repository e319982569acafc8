"""The job's state file (SQLite): what was uploaded, the current run, and watermarks.

Rows of a run are aggregated here, on disk, so a file of a million rows is processed
in bounded memory. `uploaded` records every entry the API acknowledged; a re-run sends
only what is not there, and an entry sent but not recorded (the job was killed) is
answered "already present" by the API, so nothing is stored twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from timesheets.importer.errors import ConfigurationError
from timesheets.importer.run_lock import RunLock

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploaded (
    external_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, entry_id TEXT, status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bound_to (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS watermarks (source TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS run_entries (
    external_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, user_type TEXT NOT NULL,
    day TEXT NOT NULL, project TEXT NOT NULL, hundredths INTEGER NOT NULL,
    description TEXT, rows TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_rows (fingerprint TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS run_problems (row INTEGER, external_id TEXT, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS completed_inputs (
    input TEXT PRIMARY KEY, read INTEGER NOT NULL, entries INTEGER NOT NULL,
    duplicates INTEGER NOT NULL
);
"""


class PendingEntry(NamedTuple):
    """An aggregated entry to upload, in the column order of `run_entries` (a named
    tuple, built fast from a row and stored as one)."""

    external_id: str
    user_id: str
    user_type: str
    day: str
    project: str
    hundredths: int
    description: str | None
    rows: str  # the first row of the file that contributed

    @property
    def fingerprint(self) -> str:
        """A digest of what the entry says, to notice a changed day after upload."""
        text = "\x1f".join(
            [self.user_id, self.user_type, self.day, self.project, str(self.hundredths)]
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def payload(self) -> dict[str, Any]:
        """The upload item."""
        whole, part = divmod(self.hundredths, 100)
        item: dict[str, Any] = {
            "external_id": self.external_id,
            "user_id": self.user_id,
            "user_type": self.user_type,
            "date": self.day,
            "project": self.project,
            "hours": whole if part == 0 else self.hundredths / 100,
        }
        if self.description:
            item["description"] = self.description[:2000]
        return item


class State:
    """The state database of one import configuration, held by one run at a time."""

    def __init__(self, path: Path) -> None:
        self.lock = RunLock(path.parent / "import.lock")  # TemporaryFailure when taken
        self.path = path
        try:
            fresh = not path.exists()
            self.db = sqlite3.connect(path, isolation_level=None)
            if fresh:
                os.chmod(path, 0o600)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
        except BaseException:
            self.lock.release()  # a state that cannot open leaves the next run free
            raise

    def close(self) -> None:
        """Close the database and let another run start."""
        self.db.close()
        self.lock.release()

    def bind(self, target: dict[str, str]) -> None:
        """Tie the state to the API and client it records uploads for, on first use.

        What `uploaded` holds is true of one API only: another API or client would be
        sent nothing. Raises ConfigurationError when `target` differs from the stored one.
        """
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            stored = dict(self.db.execute("SELECT name, value FROM bound_to").fetchall())
            for name, value in target.items():
                if name not in stored:
                    self.db.execute("INSERT INTO bound_to VALUES (?, ?)", (name, value))
                elif stored[name] != value:
                    raise ConfigurationError(
                        f"the state directory {self.path.parent} belongs to {name} "
                        f"{stored[name]!r}, not {value!r}: use another --state-dir for it"
                    )

    def begin_run(self) -> None:
        """Forget the previous run's rows (not what was uploaded)."""
        self.db.executescript(
            "DELETE FROM run_entries; DELETE FROM run_rows; DELETE FROM run_problems;"
        )
        self.db.execute("BEGIN")

    def end_collecting(self) -> None:
        """Commit the rows collected for this run."""
        self.db.execute("COMMIT")

    def seen_row(self, fingerprint: str) -> bool:
        """Record a row's content; True when an identical row came before in this run."""
        cursor = self.db.execute("INSERT OR IGNORE INTO run_rows VALUES (?)", (fingerprint,))
        return cursor.rowcount == 0

    def add(self, entry: PendingEntry, *, aggregate: bool) -> bool:
        """Add an entry to the run; with `aggregate`, hours add to the same key's entry.

        Returns False when the key was already present and `aggregate` is off.
        """
        if aggregate:
            self.db.execute(
                "INSERT INTO run_entries VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(external_id) "
                "DO UPDATE SET hundredths = hundredths + excluded.hundredths, "
                "description = COALESCE(description, excluded.description)",
                entry,
            )
            return True
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO run_entries VALUES (?,?,?,?,?,?,?,?)", entry
        )
        return cursor.rowcount == 1

    def problem(self, row: int | None, external_id: str | None, reason: str) -> None:
        """Record a rejected row or entry."""
        self.db.execute("INSERT INTO run_problems VALUES (?,?,?)", (row, external_id, reason))

    def problems(self, limit: int = 1000) -> list[tuple[int | None, str | None, str]]:
        """Recorded problems, by row."""
        rows = self.db.execute(
            "SELECT row, external_id, reason FROM run_problems ORDER BY row LIMIT ?", (limit,)
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def problem_count(self) -> int:
        """How many problems this run recorded."""
        return int(self.db.execute("SELECT count(*) FROM run_problems").fetchone()[0])

    def entry_count(self) -> int:
        """How many aggregated entries this run has."""
        return int(self.db.execute("SELECT count(*) FROM run_entries").fetchone()[0])

    def pending(self) -> Iterator[tuple[PendingEntry, str | None]]:
        """This run's entries, with the fingerprint recorded at upload (if any).

        Person by person, then day by day: a batch of them holds few of a person's weeks,
        so the API reads each week's stored hours once and writes its indexes, which lead
        with the person, in few places (an import of 100,000 rows takes about two thirds of
        the time it took in external-id order; docs/benchmarks.md).
        """
        cursor = self.db.execute(
            "SELECT r.*, u.fingerprint FROM run_entries r "
            "LEFT JOIN uploaded u ON u.external_id = r.external_id "
            "ORDER BY r.user_id, r.day, r.external_id"
        )
        for row in cursor:
            yield PendingEntry._make(row[:8]), row[8]

    def record_uploaded(self, results: list[tuple[PendingEntry, str, str | None]]) -> None:
        """Record acknowledged entries durably, in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO uploaded VALUES (?,?,?,?) ON CONFLICT(external_id) DO UPDATE "
                "SET fingerprint = excluded.fingerprint, entry_id = excluded.entry_id, "
                "status = excluded.status",
                [
                    (e.external_id, e.fingerprint, entry_id, status)
                    for e, status, entry_id in results
                ],
            )

    def completed(self, input_digest: str) -> tuple[int, int, int] | None:
        """(read, entries, duplicates) of an earlier run of this exact input that left
        nothing to do, if there was one."""
        row = self.db.execute(
            "SELECT read, entries, duplicates FROM completed_inputs WHERE input = ?",
            (input_digest,),
        ).fetchone()
        return (int(row[0]), int(row[1]), int(row[2])) if row else None

    def set_completed(self, input_digest: str, read: int, entries: int, duplicates: int) -> None:
        """Remember that every entry of this input is uploaded and nothing was refused."""
        self.db.execute(
            "INSERT INTO completed_inputs VALUES (?, ?, ?, ?) ON CONFLICT(input) DO UPDATE "
            "SET read = excluded.read, entries = excluded.entries, "
            "duplicates = excluded.duplicates",
            (input_digest, read, entries, duplicates),
        )

    def watermark(self, source: str) -> datetime | None:
        """The latest update time imported from a source (aware, as it was stored)."""
        row = self.db.execute("SELECT value FROM watermarks WHERE source = ?", (source,)).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def set_watermark(self, source: str, value: datetime) -> None:
        """Remember the latest update time imported from a source."""
        self.db.execute(
            "INSERT INTO watermarks VALUES (?, ?) "
            "ON CONFLICT(source) DO UPDATE SET value = excluded.value",
            (source, value.isoformat()),
        )


def row_fingerprint(parts: list[Any]) -> str:
    """A digest of a row's content, to notice exact duplicates."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()
