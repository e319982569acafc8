"""The repository's own rules, apart from its SQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.api.new_entries import new_entry
from timesheets import db
from timesheets.api import pg_rows


def test_a_dated_entry_must_be_in_its_dates_iso_week() -> None:
    """The hour caps read a day's hours from its week: an entry filed under another
    week would escape its day's cap."""
    with pytest.raises(ValueError, match="2026-11-30 is not in ISO week 2026-W48"):
        new_entry("ann", iso_year=2026, iso_week=48, entry_date=date(2026, 11, 30))
    assert new_entry("ann", iso_year=2025, iso_week=1, entry_date=date(2024, 12, 30))
    assert new_entry("ann", iso_year=2026, iso_week=48, entry_date=None)


async def test_another_driver_gets_the_writers_statements_through_sqlalchemy(
    tmp_path: Path,
) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    try:
        async with engine.connect() as connection:
            rows = await connection.run_sync(
                lambda sync: pg_rows.fetch(sync, text("SELECT :a + 1"), {"a": 41})
            )
    finally:
        await engine.dispose()
    assert [tuple(row) for row in rows] == [(42,)]
