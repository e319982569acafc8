"""ISO 8601 weeks: which years have a week 53, and the week of a date."""

from __future__ import annotations

import re
from datetime import date

_WEEK = re.compile(r"(\d{4})-W(\d{2})")


def weeks_in_year(year: int) -> int:
    """52 or 53: the ISO week of 28 December is always the year's last."""
    return date(year, 12, 28).isocalendar().week


def check_week(year: int, week: int) -> None:
    """Raise ValueError unless `week` exists in ISO year `year`."""
    if not 1 <= year <= 9999:
        raise ValueError("year must be between 1 and 9999")
    last = weeks_in_year(year)
    if not 1 <= week <= last:
        raise ValueError(f"ISO year {year} has weeks 1 to {last}")


def week_of(day: date) -> tuple[int, int]:
    """The ISO (year, week) of a date; 2024-12-30 is in 2025-W01."""
    iso = day.isocalendar()
    return iso.year, iso.week


def parse_week(text: str) -> tuple[int, int]:
    """Parse `YYYY-Www` (two-digit week, e.g. 2026-W53); raise ValueError otherwise."""
    match = _WEEK.fullmatch(text)
    if match is None:
        raise ValueError("a week is written YYYY-Www, for example 2026-W09")
    year, week = int(match.group(1)), int(match.group(2))
    check_week(year, week)
    return year, week


def format_week(year: int, week: int) -> str:
    """`YYYY-Www`."""
    return f"{year:04d}-W{week:02d}"
