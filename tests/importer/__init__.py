"""Tests of the import job (`timesheets import`): sources, parsing, state, token, upload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from timesheets.importer import job
from timesheets.importer.job import Summary
from timesheets.importer.mapping import PeopleMap
from timesheets.importer.parsing import DateOrder
from timesheets.importer.state import PendingEntry, State

#: Small, hand-written exports in each tool's real column layout.
FIXTURES = Path(__file__).parent / "fixtures"


def dry_run(
    fmt: str,
    source: Path,
    people: PeopleMap,
    state_dir: Path,
    *,
    date_order: DateOrder = "auto",
) -> tuple[Summary, list[PendingEntry]]:
    """Run the job without uploading: the summary, and the entries it would send."""
    state = State(state_dir / "state.db")
    try:
        summary = job.run(source, fmt, state, people, None, date_order=date_order)  # type: ignore[arg-type]
        entries = [entry for entry, _uploaded in state.pending()]
    finally:
        state.close()
    assert len(entries) == summary.entries
    return summary, entries


def by_day(entries: list[PendingEntry]) -> dict[tuple[str, str, str], PendingEntry]:
    """Aggregated entries by (user id, day, project), which must be unique."""
    keyed = {(e.user_id, e.day, e.project): e for e in entries}
    assert len(keyed) == len(entries), "two entries share a person, day and project"
    return keyed


def problem_rows(summary: Summary) -> dict[int | None, str]:
    """The reported problems by row number (the last reason when a row has several)."""
    return {row: reason for row, _key, reason in summary.problems}


class StoringApi:
    """Stands in for the uploader: stores items by external id as the API does, answering
    "exists" to a known id."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}

    def upload(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The API's per-item results for one batch."""
        results = []
        for item in items:
            known = item["external_id"] in self.stored
            self.stored.setdefault(item["external_id"], item)
            results.append({"status": "exists" if known else "created", "id": item["external_id"]})
        return results


def upload_run(
    source: Path, state_dir: Path, api: StoringApi, **options: Any
) -> tuple[Summary, list[PendingEntry]]:
    """Run the job on a generic file with `api` as its uploader."""
    state = State(state_dir / "state.db")
    try:
        summary = job.run(source, "generic", state, PeopleMap({}), api, **options)  # type: ignore[arg-type]
        entries = [entry for entry, _uploaded in state.pending()]
    finally:
        state.close()
    return summary, entries
