"""One run of the import job: read, map, aggregate, upload what is new, report."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from timesheets.importer.errors import EX_DATAERR, EX_OK
from timesheets.importer.mapping import PeopleMap
from timesheets.importer.parsing import DateOrder
from timesheets.importer.records import RowError, SourceRow
from timesheets.importer.sources import clockify, generic, harvest, toggl
from timesheets.importer.state import PendingEntry, State, row_fingerprint
from timesheets.importer.uploader import Uploader

log = logging.getLogger("timesheets.importer")
Format = Literal["generic", "toggl", "clockify", "harvest"]
READERS: dict[str, Callable[[Path, DateOrder], Iterator[SourceRow | RowError]]] = {
    "generic": generic.read,
    "toggl": toggl.read,
    "clockify": clockify.read,
    "harvest": harvest.read,
}
DEFAULT_USER_TYPE = "Contractor"


@dataclass
class Summary:
    """What a run did."""

    read: int = 0
    entries: int = 0
    created: int = 0
    already_present: int = 0
    skipped_unchanged: int = 0
    duplicates: int = 0
    rejected: int = 0
    problems: list[tuple[int | None, str | None, str]] = field(default_factory=list)
    elapsed: float = 0.0
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        """0 when everything was imported, 65 when rows were rejected."""
        return EX_DATAERR if self.rejected else EX_OK


def external_id(fmt: str, row: SourceRow, user_id: str) -> tuple[str, bool]:
    """The entry's external id, and whether rows with the same id aggregate.

    A row with the source's own id keeps it. Rows without one are aggregated per person,
    day and project, identified by a digest of those three: the same input always gives
    the same ids.
    """
    if row.source_id is not None:
        return f"{fmt}:{row.source_id}", False
    digest = hashlib.sha256(f"{user_id}\x1f{row.day.isoformat()}\x1f{row.project}".encode())
    return f"{fmt}:{digest.hexdigest()[:32]}", True


def collect(
    state: State,
    rows: Iterator[SourceRow | RowError],
    fmt: str,
    people: PeopleMap,
    since: str | None,
    summary: Summary,
) -> str | None:
    """Map and aggregate the rows into the state's run tables; returns the newest update time."""
    newest: str | None = None
    state.begin_run()
    for item in rows:
        summary.read += 1
        if isinstance(item, RowError):
            state.problem(item.row, None, item.reason)
            continue
        if since is not None and item.updated is not None and item.updated <= since:
            continue
        if state.seen_row(
            row_fingerprint(
                [
                    item.source_id,
                    item.person,
                    item.day,
                    item.project,
                    item.hundredths,
                    item.description,
                    item.row if item.source_id else None,
                    item.span,
                ]
            )
        ):
            summary.duplicates += 1
            state.problem(item.row, None, "duplicate of an earlier row; ignored")
            continue
        person = people.find(item.person)
        if person is None and "@" not in item.person and fmt == "generic":
            user_id, user_type = item.person, item.user_type or DEFAULT_USER_TYPE
        elif person is None:
            state.problem(
                item.row, None, f"unknown person {item.person!r}: add them to the mapping file"
            )
            continue
        else:
            user_id, user_type = person.user_id, person.user_type
        key, aggregate = external_id(fmt, item, user_id)
        entry = PendingEntry(
            key,
            user_id,
            user_type,
            item.day.isoformat(),
            item.project,
            item.hundredths,
            item.description,
            str(item.row),
        )
        if not state.add(entry, aggregate=aggregate):
            summary.duplicates += 1
            state.problem(item.row, key, "external id repeated in the file; the first row counts")
        if item.updated is not None and (newest is None or item.updated > newest):
            newest = item.updated
    state.end_collecting()
    return newest


def run(
    source: Path,
    fmt: Format,
    state: State,
    people: PeopleMap,
    uploader: Uploader | None,
    *,
    batch_size: int = 500,
    since: str | None = None,
    date_order: DateOrder = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Import a file; with no uploader, a dry run that validates and sends nothing."""
    started = time.monotonic()
    summary = Summary(dry_run=uploader is None)
    watermark_key = f"{fmt}:{source.name}"
    since = since or state.watermark(watermark_key)
    newest = collect(state, READERS[fmt](source, date_order), fmt, people, since, summary)
    summary.entries = state.entry_count()
    batch: list[PendingEntry] = []
    done = 0
    for entry, uploaded_fingerprint in state.pending():
        if uploaded_fingerprint == entry.fingerprint:
            summary.skipped_unchanged += 1
        elif uploaded_fingerprint is not None:
            state.problem(
                None,
                entry.external_id,
                "changed since it was uploaded; fix it in Timesheets by hand",
            )
        else:
            batch.append(entry)
        if len(batch) >= batch_size:
            done += _send(uploader, batch, state, summary)
            batch = []
            if progress:
                progress(done, summary.entries)
    if batch:
        done += _send(uploader, batch, state, summary)
    if progress:
        progress(summary.entries, summary.entries)
    summary.rejected = state.problem_count() - summary.duplicates
    summary.problems = state.problems()
    if uploader is not None and newest is not None and summary.rejected == 0:
        state.set_watermark(watermark_key, newest)
    summary.elapsed = time.monotonic() - started
    return summary


def _send(
    uploader: Uploader | None, batch: list[PendingEntry], state: State, summary: Summary
) -> int:
    if uploader is None:
        return len(batch)
    results = uploader.upload([entry.payload() for entry in batch])
    acknowledged: list[tuple[PendingEntry, str, str | None]] = []
    for entry, result in zip(batch, results, strict=True):
        status = result.get("status")
        if status in ("created", "exists"):
            acknowledged.append((entry, str(status), result.get("id")))
            if status == "created":
                summary.created += 1
            else:
                summary.already_present += 1
        else:
            reasons = "; ".join(
                f"{e.get('field')}: {e.get('message')}" for e in result.get("errors", [])
            )
            first_row = int(entry.rows) if entry.rows else None
            state.problem(first_row, entry.external_id, reasons or "rejected by the API")
    state.record_uploaded(acknowledged)
    return len(batch)
