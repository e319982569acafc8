"""What a source yields and what the job uploads."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple


class RowError(ValueError):
    """A row that cannot be imported, with its 1-based row number in the file."""

    def __init__(self, row: int, message: str) -> None:
        super().__init__(f"row {row}: {message}")
        self.row = row
        self.reason = message


class SourceRow(NamedTuple):
    """One time record of an export, before people are mapped and days aggregated.

    A named tuple rather than a frozen dataclass: a file of a million rows makes a
    million of them, and a tuple is built several times faster.
    """

    row: int
    source_id: str | None
    person: str
    day: date
    project: str
    hundredths: int
    description: str | None = None
    user_type: str | None = None
    updated: datetime | None = None  # aware, in UTC
    columns: tuple[str, ...] = ()
    """Every column of the row as read, for sources without ids: only rows identical in
    all of them are duplicates."""
