"""Toggl Track's detailed CSV export: read, split at midnight, mapped and aggregated."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.importer import FIXTURES, by_day, dry_run, problem_rows
from timesheets.importer.errors import UnreadableSource
from timesheets.importer.mapping import PeopleMap
from timesheets.importer.records import RowError, SourceRow
from timesheets.importer.sources import toggl

EXPORT = FIXTURES / "toggl_detailed.csv"
HEADER = (
    "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,End date,"
    "End time,Duration,Tags,Amount ()\n"
)


def test_the_export_is_read_with_its_bom_quoted_commas_and_emoji() -> None:
    rows = list(toggl.read(EXPORT))
    first = rows[0]
    assert isinstance(first, SourceRow)
    assert first.row == 2  # the header (after the BOM) is row 1
    assert first.person == "dana@contractors.example"
    assert first.project == "StoreZero"
    assert first.day == date(2026, 3, 2)
    assert first.hundredths == 350
    assert first.description == "Checkout / Payments, refunds & the 🚀 launch"
    assert first.source_id is None


def test_a_span_across_midnight_counts_one_hour_on_each_day() -> None:
    night = [r for r in toggl.read(EXPORT) if isinstance(r, SourceRow) and r.row == 4]
    assert [(r.day, r.hundredths) for r in night] == [
        (date(2026, 3, 3), 100),
        (date(2026, 3, 4), 100),
    ]


def test_an_impossible_date_is_a_row_error() -> None:
    errors = [r for r in toggl.read(EXPORT) if isinstance(r, RowError)]
    assert [e.row for e in errors] == [9]
    assert "range" in errors[0].reason


def test_the_job_aggregates_per_person_day_and_project(people: PeopleMap, tmp_path: Path) -> None:
    _summary, entries = dry_run("toggl", EXPORT, people, tmp_path)
    days = by_day(entries)
    assert {key: e.hundredths for key, e in days.items()} == {
        ("c-017", "2026-03-02", "StoreZero"): 750,  # rows 2 and 3: 3.5 h + 4 h
        ("e-042", "2026-03-03", "Auth0 Dashboard"): 100,  # row 4, before midnight
        ("e-042", "2026-03-04", "Auth0 Dashboard"): 100,  # row 4, after midnight
        ("e-042", "2026-12-31", "Auth0 Dashboard"): 800,
        ("e-042", "2027-01-03", "Auth0 Dashboard"): 225,
    }
    dana = days[("c-017", "2026-03-02", "StoreZero")]
    assert dana.user_type == "Contractor"
    assert dana.rows == "2"
    assert dana.description == "Checkout / Payments, refunds & the 🚀 launch"
    assert days[("e-042", "2026-12-31", "Auth0 Dashboard")].user_type == "Employee"
    assert all(e.external_id.startswith("toggl:") for e in entries)


def test_both_new_year_days_fall_in_iso_week_53_of_2026(people: PeopleMap, tmp_path: Path) -> None:
    _summary, entries = dry_run("toggl", EXPORT, people, tmp_path)
    year_end = [e for e in entries if e.day >= "2026-12-28"]
    assert {date.fromisoformat(e.day).isocalendar()[:2] for e in year_end} == {(2026, 53)}
    assert {e.payload()["date"] for e in year_end} == {"2026-12-31", "2027-01-03"}


def test_unknown_people_duplicates_and_bad_dates_are_reported_by_row(
    people: PeopleMap, tmp_path: Path
) -> None:
    summary, _entries = dry_run("toggl", EXPORT, people, tmp_path)
    problems = problem_rows(summary)
    assert set(problems) == {7, 8, 9}
    assert "unknown person 'ghost@nowhere.example'" in problems[7]
    assert "duplicate" in problems[8]
    assert "range" in problems[9]
    assert summary.duplicates == 1
    assert summary.rejected == 2  # the unknown person and the bad date
    assert summary.entries == 5
    assert summary.exit_code == 65
    assert summary.created == 0
    assert summary.dry_run


def test_the_same_export_always_gives_the_same_external_ids(
    people: PeopleMap, tmp_path: Path
) -> None:
    _first, entries = dry_run("toggl", EXPORT, people, tmp_path / "one")
    _second, again = dry_run("toggl", EXPORT, people, tmp_path / "two")
    assert sorted(e.external_id for e in entries) == sorted(e.external_id for e in again)
    assert len({e.external_id for e in entries}) == 5


def test_two_distinct_entries_with_the_same_text_both_count(
    people: PeopleMap, tmp_path: Path
) -> None:
    # A daily stand-up tracked twice (morning and afternoon) is two time entries, not an
    # "exactly identical row": their start and end times differ.
    export = tmp_path / "standups.csv"
    export.write_text(
        HEADER + "Dana Whitfield,dana@contractors.example,ABC Inc.,StoreZero,,Stand-up,No,"
        "2026-03-02,09:00:00,2026-03-02,09:15:00,00:15:00,,\n"
        + "Dana Whitfield,dana@contractors.example,ABC Inc.,StoreZero,,Stand-up,No,"
        "2026-03-02,16:00:00,2026-03-02,16:15:00,00:15:00,,\n",
        encoding="utf-8",
    )
    summary, entries = dry_run("toggl", export, people, tmp_path)
    assert summary.duplicates == 0
    assert [e.hundredths for e in entries] == [50]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (",,ABC Inc.,StoreZero,,x,No,2026-03-02,09:00:00,2026-03-02,10:00:00,01:00:00,,", "Email"),
        (
            "D,d@x.example,ABC Inc.,,,x,No,2026-03-02,09:00:00,2026-03-02,10:00:00,01:00:00,,",
            "Project",
        ),
        ("D,d@x.example,ABC Inc.,P,,x,No,2026-03-02,09:00:00,2026-03-02,10:00:00,1h,,", "duration"),
        (
            "D,d@x.example,ABC Inc.,P,,x,No,2026-03-02,9 o'clock,2026-03-02,10:00:00,01:00:00,,",
            "time",
        ),
    ],
)
def test_incomplete_rows_are_row_errors(tmp_path: Path, line: str, reason: str) -> None:
    export = tmp_path / "bad.csv"
    export.write_text(HEADER + line + "\n", encoding="utf-8")
    [error] = list(toggl.read(export))
    assert isinstance(error, RowError)
    assert error.row == 2
    assert reason in error.reason


def test_a_span_ending_before_it_starts_is_a_row_error_and_the_rest_imports(
    people: PeopleMap, tmp_path: Path
) -> None:
    export = tmp_path / "toggl.csv"
    person = "Dana Whitfield,dana@contractors.example,ABC Inc.,StoreZero,,x,No,"
    export.write_text(
        HEADER
        + person
        + "2026-01-05,10:00:00,2026-01-01,09:00:00,01:00:00,,\n"
        + person
        + "2026-03-02,09:00:00,2026-03-02,10:00:00,01:00:00,,\n",
        encoding="utf-8",
    )
    summary, [entry] = dry_run("toggl", export, people, tmp_path)
    assert "before it starts" in problem_rows(summary)[2]
    assert (entry.day, entry.hundredths) == ("2026-03-02", 100)


def test_a_file_without_the_toggl_columns_is_refused_naming_them() -> None:
    with pytest.raises(UnreadableSource, match="missing columns Duration, Email, Start date, User"):
        list(toggl.read(FIXTURES / "harvest_detailed.csv"))
