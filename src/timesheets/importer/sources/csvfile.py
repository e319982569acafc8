"""Streaming CSV rows as dicts: UTF-8 with an optional BOM, row numbers kept."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path


def read_csv(path: Path, required: set[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (row number, row) with the header's columns; the header is row 1."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path.name}: missing columns {', '.join(sorted(missing))}")
        for number, row in enumerate(reader, start=2):
            yield number, {k: (v or "").strip() for k, v in row.items() if k is not None}
