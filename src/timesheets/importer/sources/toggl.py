"""Toggl Track's detailed time-entry CSV export.

Columns: User, Email, Client, Project, Task, Description, Billable, Start date,
Start time, End date, End time, Duration (HH:MM:SS), Tags, Amount. The export has no
entry id, so rows are identified by their content.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from timesheets.importer.parsing import DateOrder, parse_duration
from timesheets.importer.records import RowError, SourceRow
from timesheets.importer.sources.csvfile import read_csv
from timesheets.importer.sources.spans import split_by_day

REQUIRED = {"User", "Email", "Project", "Start date", "Duration"}


def read(path: Path, order: DateOrder = "auto") -> Iterator[SourceRow | RowError]:
    """Rows of a Toggl Track detailed export, split at midnight."""
    for number, raw in read_csv(path, REQUIRED):
        try:
            if not raw["Email"]:
                raise ValueError("the Email column is empty")
            if not raw["Project"]:
                raise ValueError("the Project column is empty")
            parts = split_by_day(
                raw["Start date"],
                raw.get("Start time", ""),
                raw.get("End date", ""),
                raw.get("End time", ""),
                parse_duration(raw["Duration"]),
                order,
            )
        except ValueError as error:
            yield RowError(number, str(error))
            continue
        description = " / ".join(filter(None, [raw.get("Task"), raw.get("Description")])) or None
        for day, hundredths in parts:
            yield SourceRow(
                number,
                None,
                raw["Email"],
                day,
                raw["Project"],
                hundredths,
                description,
                columns=tuple(raw.values()),
            )
