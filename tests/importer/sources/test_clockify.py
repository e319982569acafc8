"""Clockify's detailed report CSV: US and European workspaces, 12-hour clock, locale decimals."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.importer import FIXTURES, by_day, dry_run, problem_rows
from timesheets.importer.errors import UnreadableSource
from timesheets.importer.mapping import PeopleMap
from timesheets.importer.records import RowError, SourceRow
from timesheets.importer.sources import clockify

US_EXPORT = FIXTURES / "clockify_us.csv"
EU_EXPORT = FIXTURES / "clockify_eu.csv"
HEADER = (
    "Project,Client,Description,Task,User,Group,Email,Tags,Billable,Start Date,Start Time,"
    "End Date,End Time,Duration (h),Duration (decimal),Billable Rate (USD),"
    "Billable Amount (USD)\n"
)


def test_the_us_export_is_read_with_its_bom_quoted_commas_and_emoji() -> None:
    first = next(clockify.read(US_EXPORT))
    assert isinstance(first, SourceRow)
    assert (first.row, first.person, first.project) == (2, "dana@contractors.example", "StoreZero")
    assert first.day == date(2026, 3, 16)
    assert first.hundredths == 350
    assert first.description == "Development / Checkout, payments 🚀"


def test_an_ambiguous_date_is_refused_naming_the_date_order_flag() -> None:
    errors = {r.row: r.reason for r in clockify.read(US_EXPORT) if isinstance(r, RowError)}
    assert "--date-order" in errors[3]
    assert "03/04/2026" in errors[3]


@pytest.mark.parametrize(
    ("order", "expected"), [("us", date(2026, 3, 4)), ("eu", date(2026, 4, 3))]
)
def test_an_ambiguous_date_is_read_in_the_order_given(order: str, expected: date) -> None:
    row = [r for r in clockify.read(US_EXPORT, order) if r.row == 3]  # type: ignore[arg-type]
    assert len(row) == 1
    assert isinstance(row[0], SourceRow)
    assert row[0].day == expected


def test_a_night_shift_on_the_12_hour_clock_is_split_at_midnight() -> None:
    night = [r for r in clockify.read(US_EXPORT) if isinstance(r, SourceRow) and r.row == 4]
    assert [(r.day, r.hundredths) for r in night] == [
        (date(2026, 3, 17), 100),
        (date(2026, 3, 18), 100),
    ]


def test_the_us_export_through_the_job(people: PeopleMap, tmp_path: Path) -> None:
    summary, entries = dry_run("clockify", US_EXPORT, people, tmp_path)
    assert {key: e.hundredths for key, e in by_day(entries).items()} == {
        ("c-017", "2026-03-16", "StoreZero"): 350,
        ("e-042", "2026-03-17", "Auth0 Dashboard"): 100,
        ("e-042", "2026-03-18", "Auth0 Dashboard"): 100,
        ("e-042", "2026-12-28", "Auth0 Dashboard"): 800,
        ("e-042", "2026-12-30", "Auth0 Dashboard"): 250,
    }
    problems = problem_rows(summary)
    assert set(problems) == {3, 7, 8, 9}
    assert "--date-order" in problems[3]
    assert "unknown person 'ghost@nowhere.example'" in problems[7]
    assert "duplicate" in problems[8]
    assert "range" in problems[9]  # 02/30/2026
    assert (summary.duplicates, summary.rejected, summary.exit_code) == (1, 3, 65)


def test_with_the_us_order_the_ambiguous_row_is_imported(people: PeopleMap, tmp_path: Path) -> None:
    summary, entries = dry_run("clockify", US_EXPORT, people, tmp_path, date_order="us")
    assert by_day(entries)[("c-017", "2026-03-04", "StoreZero")].hundredths == 100
    assert set(problem_rows(summary)) == {7, 8, 9}


def test_week_53_days_of_a_us_export(people: PeopleMap, tmp_path: Path) -> None:
    _summary, entries = dry_run("clockify", US_EXPORT, people, tmp_path)
    weeks = {date.fromisoformat(e.day).isocalendar()[:2] for e in entries if e.day >= "2026-12"}
    assert weeks == {(2026, 53)}


def test_the_european_export_with_decimal_commas(people: PeopleMap, tmp_path: Path) -> None:
    rows = list(clockify.read(EU_EXPORT))
    assert all(isinstance(r, SourceRow) for r in rows)
    summary, entries = dry_run("clockify", EU_EXPORT, people, tmp_path)
    assert {key: e.hundredths for key, e in by_day(entries).items()} == {
        ("c-099", "2026-03-16", "StoreZero"): 750,  # "7,5"
        ("c-099", "2026-03-17", "StoreZero"): 100,  # "2,00" from 23:00 to 01:00
        ("c-099", "2026-03-18", "StoreZero"): 100,
        ("c-099", "2026-04-03", "StoreZero"): 125,  # 03.04.2026 is day.month.year
    }
    assert summary.problems == []
    assert summary.exit_code == 0


def test_the_hh_mm_ss_duration_wins_over_the_decimal_one(tmp_path: Path) -> None:
    export = tmp_path / "both.csv"
    export.write_text(
        HEADER + "P,C,d,,D,,d@x.example,,No,03/16/2026,,03/16/2026,,01:30:00,1.00,0,0\n",
        encoding="utf-8",
    )
    [row] = list(clockify.read(export))
    assert isinstance(row, SourceRow)
    assert row.hundredths == 150


def test_a_row_without_any_duration_is_a_row_error(tmp_path: Path) -> None:
    export = tmp_path / "none.csv"
    export.write_text(
        HEADER + "P,C,d,,D,,d@x.example,,No,03/16/2026,,03/16/2026,,,,0,0\n", encoding="utf-8"
    )
    [error] = list(clockify.read(export))
    assert isinstance(error, RowError)
    assert (error.row, error.reason) == (2, "no duration")


def test_a_file_without_the_clockify_columns_is_refused() -> None:
    with pytest.raises(UnreadableSource, match="missing columns Email, Start Date"):
        list(clockify.read(FIXTURES / "harvest_detailed.csv"))
