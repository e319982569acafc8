"""One run of the import job: read, map, aggregate, upload what is new, report."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from timesheets.importer.errors import EX_DATAERR, EX_OK, ConfigurationError
from timesheets.importer.item_rules import reasons, refusals
from timesheets.importer.mapping import PeopleMap
from timesheets.importer.parsing import DateOrder, parse_instant
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

IN_FLIGHT = 4  # batches uploaded at once: enough to keep the API's writers busy


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
    since: datetime | None,
    summary: Summary,
) -> datetime | None:
    """Map and aggregate the rows into the state's run tables; returns the newest update time."""
    newest: datetime | None = None
    state.begin_run()
    for item in rows:
        summary.read += 1
        if isinstance(item, RowError):
            state.problem(item.row, None, item.reason)
            continue
        if since is not None and item.updated is not None and item.updated <= since:
            continue
        # Only rows without the source's own id can repeat one another exactly: every
        # column must match (a span split at midnight gives one row per day). One id
        # given twice is reported below, when its second entry is added.
        if item.source_id is None and state.seen_row(row_fingerprint([item.day, *item.columns])):
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


def input_digest(
    source: Path, fmt: str, people: PeopleMap, since: str | None, date_order: str
) -> str:
    """What a run's outcome depends on: the file's bytes, the format, mapping and options."""
    digest = hashlib.sha256()
    with source.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    options = f"{fmt}\x1f{people.digest()}\x1f{since or ''}\x1f{date_order}"
    return hashlib.sha256(f"{digest.hexdigest()}\x1f{options}".encode()).hexdigest()


def run(
    source: Path,
    fmt: Format,
    state: State,
    people: PeopleMap,
    uploader: Uploader | None,
    *,
    batch_size: int = 1000,
    since: str | None = None,
    date_order: DateOrder = "auto",
    progress: Callable[[int, int], None] | None = None,
    in_flight: int = IN_FLIGHT,
    summary: Summary | None = None,
) -> Summary:
    """Import a file; with no uploader, a dry run that validates and sends nothing.

    `summary`, if given, is filled in as the run goes: a caller whose run failed can
    still report what it did.

    Up to `in_flight` batches are uploaded at once (the API serves them on several
    workers, and parses one while it writes another); their results are recorded in the
    order they were sent. A file whose exact input was imported before with nothing
    refused is not read again: every entry it holds is known to be uploaded.
    """
    started = time.monotonic()
    summary = summary or Summary()
    summary.dry_run = uploader is None
    watermark_key = f"{fmt}:{source.resolve()}"  # two folders' hours.csv are two sources
    explicit_since = _since(since)
    since_text = explicit_since.isoformat() if explicit_since else None
    digest = input_digest(source, fmt, people, since_text, date_order)
    earlier = state.completed(digest) if uploader is not None else None
    if earlier is not None:
        summary.read, summary.entries, summary.duplicates = earlier
        summary.skipped_unchanged = summary.entries
        summary.elapsed = time.monotonic() - started
        log.info("this exact input was imported before; nothing to send")
        return summary
    since_at = explicit_since or state.watermark(watermark_key)
    try:
        newest = collect(state, READERS[fmt](source, date_order), fmt, people, since_at, summary)
        summary.entries = state.entry_count()
        _send_pending(state, _Batches(uploader, state, summary, in_flight, progress), batch_size)
    finally:
        # Also when the run fails: the caller then reports what it did so far.
        summary.rejected = state.problem_count() - summary.duplicates
        summary.problems = state.problems()
        summary.elapsed = time.monotonic() - started
    if uploader is not None and summary.rejected == 0:
        if newest is not None:
            state.set_watermark(watermark_key, newest)
        state.set_completed(digest, summary.read, summary.entries, summary.duplicates)
    return summary


def _send_pending(state: State, batches: _Batches, batch_size: int) -> None:
    """Send the run's entries not uploaded yet; report those changed since upload."""
    summary = batches.summary
    with batches:
        batch: list[PendingEntry] = []
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
                batches.send(batch)
                batch = []
        if batch:
            batches.send(batch)
    if batches.progress and batches.reported != summary.entries:
        batches.progress(summary.entries, summary.entries)


def _since(text: str | None) -> datetime | None:
    try:
        return parse_instant(text) if text is not None else None
    except ValueError as error:
        raise ConfigurationError(f"--since: {error}") from None


class _Batches:
    """Uploads batches, up to `in_flight` at once, recording results in sending order."""

    def __init__(
        self,
        uploader: Uploader | None,
        state: State,
        summary: Summary,
        in_flight: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.uploader = uploader
        self.progress = progress
        self.settled = 0
        self.reported = -1
        self.state = state
        self.summary = summary
        self.in_flight = max(1, in_flight)
        self.pool = ThreadPoolExecutor(self.in_flight, thread_name_prefix="upload")
        self.waiting: deque[tuple[list[PendingEntry], Future[list[dict[str, Any]]]]] = deque()

    def __enter__(self) -> _Batches:
        return self

    def send(self, batch: list[PendingEntry]) -> None:
        """Start uploading `batch` (in a dry run, check it by the API's rules instead)."""
        if self.uploader is None:
            for entry in batch:
                if errors := refusals(entry.payload()):
                    self.state.problem(_first_row(entry), entry.external_id, reasons(errors))
            self._settled(len(batch))
            return
        payload = [entry.payload() for entry in batch]
        self.waiting.append((batch, self.pool.submit(self.uploader.upload, payload)))
        while len(self.waiting) >= self.in_flight:
            self._settle_oldest()

    def _settle_oldest(self) -> None:
        batch, future = self.waiting.popleft()
        _record(batch, future.result(), self.state, self.summary)
        self._settled(len(batch))

    def _settled(self, count: int) -> None:
        self.settled += count
        if self.progress is not None:
            self.progress(self.settled, self.summary.entries)
            self.reported = self.settled

    def __exit__(self, kind: type[BaseException] | None, *_rest: object) -> None:
        # Record every batch that was answered, even when another one failed: what the
        # API acknowledged is then known, and a re-run sends only the rest.
        failure: BaseException | None = None
        while self.waiting:
            try:
                self._settle_oldest()
            except Exception as error:
                failure = failure or error
        self.pool.shutdown(wait=True)
        if failure is not None and kind is None:
            raise failure


def _record(
    batch: list[PendingEntry], results: list[dict[str, Any]], state: State, summary: Summary
) -> None:
    acknowledged: list[tuple[PendingEntry, str, str | None]] = []
    for entry, result in zip(batch, results, strict=True):
        status = result.get("status")
        differs = result.get("differs") if status == "exists" else None
        if differs and isinstance(differs, list):
            # Stored by an earlier run that ended before recording it, and changed in
            # the export since: the API keeps what it stored, so a person must decide.
            # Not recorded as uploaded, so every run reports it until it is settled.
            state.problem(
                _first_row(entry),
                entry.external_id,
                f"changed since it was uploaded ({', '.join(map(str, differs))} differ); "
                "fix it in Timesheets by hand",
            )
        elif status in ("created", "exists"):
            acknowledged.append((entry, str(status), result.get("id")))
            if status == "created":
                summary.created += 1
            else:
                summary.already_present += 1
        else:
            why = reasons(result.get("errors", []))
            state.problem(_first_row(entry), entry.external_id, why or "rejected by the API")
    state.record_uploaded(acknowledged)


def _first_row(entry: PendingEntry) -> int | None:
    return int(entry.rows) if entry.rows else None
