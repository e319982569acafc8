"""The generic format: CSV or JSON Lines with `external_id, user_id or user_email,
user_type, date, project, hours, description` (see docs/import.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from timesheets.importer.errors import UnreadableSource
from timesheets.importer.parsing import (
    DateOrder,
    parse_date,
    parse_decimal_hours,
    parse_instant,
)
from timesheets.importer.records import RowError, SourceRow
from timesheets.importer.sources.csvfile import read_csv

REQUIRED = {"date", "project", "hours"}


def _row(number: int, raw: dict[str, Any], order: DateOrder, columns: tuple[str, ...]) -> SourceRow:
    person = str(raw.get("user_id") or raw.get("user_email") or "").strip()
    if not person:
        raise RowError(number, "user_id or user_email is required")
    missing = [name for name in sorted(REQUIRED) if raw.get(name) in (None, "")]
    if missing:
        raise RowError(number, f"missing {', '.join(missing)}")
    try:
        day = parse_date(str(raw["date"]), order)
        hours = raw["hours"]
        if isinstance(hours, bool):
            raise ValueError("hours must be a number")
        hundredths = parse_decimal_hours(
            repr(hours) if isinstance(hours, int | float) else str(hours)
        )
        updated = parse_instant(str(raw["updated_at"])) if raw.get("updated_at") else None
    except ValueError as error:
        raise RowError(number, str(error)) from None
    description = raw.get("description") or None
    source_id = str(raw["external_id"]) if raw.get("external_id") not in (None, "") else None
    return SourceRow(
        row=number,
        source_id=source_id,
        person=person,
        day=day,
        project=str(raw["project"]).strip(),
        hundredths=hundredths,
        description=str(description) if description else None,
        user_type=str(raw["user_type"]) if raw.get("user_type") else None,
        updated=updated,
        columns=columns if source_id is None else (),  # an id tells rows apart
    )


def read(path: Path, order: DateOrder = "auto") -> Iterator[SourceRow | RowError]:
    """Rows of a generic CSV (`.csv`) or JSON Lines (`.jsonl`, `.ndjson`) file."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        yield from _json_lines(path, order)
        return
    for number, raw in read_csv(path, REQUIRED):
        try:
            yield _row(number, raw, order, tuple(raw.values()))
        except RowError as error:
            yield error


def _json_lines(path: Path, order: DateOrder) -> Iterator[SourceRow | RowError]:
    number = 0
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as error:
                    yield RowError(number, f"malformed JSON: {error.msg}")
                    continue
                if not isinstance(raw, dict):
                    yield RowError(number, "each line must be a JSON object")
                    continue
                try:
                    yield _row(number, raw, order, (json.dumps(raw, sort_keys=True),))
                except RowError as error:
                    yield error
    except UnicodeDecodeError as error:
        raise UnreadableSource(f"{path.name}: not UTF-8 near line {number + 1}: {error}") from None
