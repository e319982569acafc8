"""Harvest's detailed time report CSV export.

Columns: Date, Client, Project, Project Code, Task, Notes, Hours (decimal), Hours
Rounded, Billable?, Invoiced?, Approved?, First Name, Last Name, Roles, Employee?,
Billable Rate, Billable Amount, Cost Rate, Cost Amount, Currency, External Reference URL.
The export names people, not their email, so the mapping file maps "First Last".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from timesheets.importer.parsing import DateOrder, parse_date, parse_decimal_hours
from timesheets.importer.records import RowError, SourceRow
from timesheets.importer.sources.csvfile import read_csv

REQUIRED = {"Date", "Project", "Hours", "First Name", "Last Name"}


def read(path: Path, order: DateOrder = "auto") -> Iterator[SourceRow | RowError]:
    """Rows of a Harvest detailed time report."""
    for number, raw in read_csv(path, REQUIRED):
        person = f"{raw['First Name']} {raw['Last Name']}".strip()
        try:
            if not person:
                raise ValueError("the person's name is empty")
            if not raw["Project"]:
                raise ValueError("the Project column is empty")
            day = parse_date(raw["Date"], order)
            hundredths = parse_decimal_hours(raw["Hours"])
        except ValueError as error:
            yield RowError(number, str(error))
            continue
        employee = raw.get("Employee?", "").lower()
        user_type = "Employee" if employee == "yes" else "Contractor" if employee == "no" else None
        description = " / ".join(filter(None, [raw.get("Task"), raw.get("Notes")])) or None
        yield SourceRow(
            number,
            None,
            person,
            day,
            raw["Project"],
            hundredths,
            description,
            user_type,
            columns=tuple(raw.values()),
        )
