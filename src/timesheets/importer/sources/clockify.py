"""Clockify's detailed report CSV export.

Columns: Project, Client, Description, Task, User, Group, Email, Tags, Billable,
Start Date, Start Time, End Date, End Time, Duration (h) (HH:MM:SS), Duration (decimal)
(locale decimal separator), Billable Rate, Billable Amount. Dates follow the
workspace's format (US or European order); ambiguous ones need `--date-order`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from timesheets.importer.parsing import DateOrder, parse_decimal_hours, parse_duration
from timesheets.importer.records import RowError, SourceRow
from timesheets.importer.sources.csvfile import read_csv
from timesheets.importer.sources.spans import split_by_day

REQUIRED = {"Project", "Email", "Start Date"}


def _hundredths(raw: dict[str, str]) -> int:
    if raw.get("Duration (h)"):
        return parse_duration(raw["Duration (h)"])
    if raw.get("Duration (decimal)"):
        return parse_decimal_hours(raw["Duration (decimal)"])
    raise ValueError("no duration")


def read(path: Path, order: DateOrder = "auto") -> Iterator[SourceRow | RowError]:
    """Rows of a Clockify detailed export, split at midnight."""
    for number, raw in read_csv(path, REQUIRED):
        try:
            if not raw["Email"]:
                raise ValueError("the Email column is empty")
            if not raw["Project"]:
                raise ValueError("the Project column is empty")
            parts = split_by_day(
                raw["Start Date"],
                raw.get("Start Time", ""),
                raw.get("End Date", ""),
                raw.get("End Time", ""),
                _hundredths(raw),
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
