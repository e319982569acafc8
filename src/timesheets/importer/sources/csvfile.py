"""Streaming CSV rows as dicts: UTF-8 with an optional BOM, row numbers kept."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from timesheets.importer.errors import UnreadableSource


def read_csv(path: Path, required: set[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (row number, row) with the header's columns; the header is row 1."""
    number = 1
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = required - set(reader.fieldnames or [])
            if missing:
                raise UnreadableSource(
                    f"{path.name}: missing columns {', '.join(sorted(missing))}; is --format right?"
                )
            for number, row in enumerate(reader, start=2):
                yield number, {k: (v or "").strip() for k, v in row.items() if k is not None}
    except (UnicodeDecodeError, csv.Error) as error:
        raise UnreadableSource(
            f"{path.name}: not a UTF-8 CSV file near row {number}: {error}"
        ) from None
