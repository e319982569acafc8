"""Harvest's detailed time report CSV: people by name, decimal hours, no times of day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.importer import FIXTURES, by_day, dry_run, problem_rows
from timesheets.importer.mapping import PeopleMap
from timesheets.importer.records import RowError, SourceRow
from timesheets.importer.sources import harvest

EXPORT = FIXTURES / "harvest_detailed.csv"
HEADER = (
    "Date,Client,Project,Project Code,Task,Notes,Hours,Hours Rounded,Billable?,Invoiced?,"
    "Approved?,First Name,Last Name,Roles,Employee?,Billable Rate,Billable Amount,Cost Rate,"
    "Cost Amount,Currency,External Reference URL\n"
)


def test_rows_name_the_person_and_keep_quoted_commas_and_emoji() -> None:
    first = next(harvest.read(EXPORT))
    assert isinstance(first, SourceRow)
    assert (first.row, first.person, first.project) == (2, "Dana Whitfield", "StoreZero")
    assert first.day == date(2026, 3, 2)
    assert first.hundredths == 750
    assert first.description == "Development / Checkout, payments 🚀"
    assert first.user_type == "Contractor"  # Employee? = No


def test_hours_with_a_decimal_comma() -> None:
    token_cache = [r for r in harvest.read(EXPORT) if r.row == 4]
    assert isinstance(token_cache[0], SourceRow)
    assert token_cache[0].hundredths == 650  # "6,5"


def test_bad_and_ambiguous_dates_are_row_errors() -> None:
    errors = {r.row: r.reason for r in harvest.read(EXPORT) if isinstance(r, RowError)}
    assert set(errors) == {9, 10}
    assert "range" in errors[9]
    assert "--date-order" in errors[10]


def test_the_export_through_the_job(people: PeopleMap, tmp_path: Path) -> None:
    summary, entries = dry_run("harvest", EXPORT, people, tmp_path)
    days = by_day(entries)
    assert {key: e.hundredths for key, e in days.items()} == {
        ("c-017", "2026-03-02", "StoreZero"): 750,
        ("e-042", "2026-03-02", "Auth0 Dashboard"): 775,  # 1.25 + "6,5"
        ("e-042", "2026-12-28", "Auth0 Dashboard"): 800,
        ("e-042", "2027-01-03", "Auth0 Dashboard"): 225,
    }
    assert days[("e-042", "2026-03-02", "Auth0 Dashboard")].description == (
        "Meetings / Sprint planning"
    )
    problems = problem_rows(summary)
    assert set(problems) == {7, 8, 9, 10}
    assert "unknown person 'Ghost Writer'" in problems[7]
    assert "duplicate" in problems[8]
    assert (summary.duplicates, summary.rejected, summary.exit_code) == (1, 3, 65)


def test_week_53_runs_from_monday_28_december_to_sunday_3_january(
    people: PeopleMap, tmp_path: Path
) -> None:
    _summary, entries = dry_run("harvest", EXPORT, people, tmp_path)
    ends = sorted(e.day for e in entries if e.day >= "2026-12")
    assert ends == ["2026-12-28", "2027-01-03"]
    assert {date.fromisoformat(day).isocalendar()[:2] for day in ends} == {(2026, 53)}


def test_with_the_us_order_the_ambiguous_row_is_imported(people: PeopleMap, tmp_path: Path) -> None:
    summary, entries = dry_run("harvest", EXPORT, people, tmp_path, date_order="us")
    assert by_day(entries)[("c-017", "2026-03-04", "StoreZero")].hundredths == 200
    assert set(problem_rows(summary)) == {7, 8, 9}


def test_the_people_file_decides_the_user_type(tmp_path: Path) -> None:
    export = tmp_path / "harvest.csv"
    export.write_text(
        HEADER + "2026-03-02,C,P,,T,,2,2,No,No,No,Lee,Park,,No,0,0,0,0,USD,\n", encoding="utf-8"
    )
    people = PeopleMap.load(FIXTURES / "people.csv")
    _summary, [entry] = dry_run("harvest", export, people, tmp_path)
    assert (entry.user_id, entry.user_type) == ("e-042", "Employee")


def test_rows_that_differ_only_in_columns_the_entry_does_not_keep_both_count(
    people: PeopleMap, tmp_path: Path
) -> None:
    # Two clients' work on one project and day: Client, Project Code and Billable? differ,
    # so neither row is a duplicate and the day holds both (4 h).
    export = tmp_path / "harvest.csv"
    export.write_text(
        HEADER + "2026-03-02,ABC Inc.,Website,AB-01,Development,,2,2,Yes,No,Yes,Dana,Whitfield,,No,"
        "100,200,80,160,USD,\n"
        + "2026-03-02,XYZ Ltd.,Website,XY-07,Development,,2,2,No,No,No,Dana,Whitfield,,No,"
        "0,0,80,160,USD,\n",
        encoding="utf-8",
    )
    summary, [entry] = dry_run("harvest", export, people, tmp_path / "first")
    assert (summary.duplicates, summary.problems) == (0, [])
    assert entry.hundredths == 400
    again, [same] = dry_run("harvest", export, people, tmp_path / "second")
    assert (again.duplicates, same) == (0, entry)


def test_a_row_repeated_in_every_column_is_a_duplicate_on_every_run(
    people: PeopleMap, tmp_path: Path
) -> None:
    line = "2026-03-02,ABC Inc.,Website,AB-01,Development,,2,2,Yes,No,Yes,Dana,Whitfield,,No,"
    export = tmp_path / "harvest.csv"
    export.write_text(HEADER + f"{line}1,2,3,4,USD,\n" * 2, encoding="utf-8")
    for state_dir in (tmp_path / "state", tmp_path / "state"):
        summary, [entry] = dry_run("harvest", export, people, state_dir)
        assert (summary.duplicates, entry.hundredths) == (1, 200)
        assert problem_rows(summary) == {3: "duplicate of an earlier row; ignored"}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("2026-03-02,C,P,,T,,2,2,No,No,No,,,,No,0,0,0,0,USD,", "name"),
        ("2026-03-02,C,,,T,,2,2,No,No,No,Lee,Park,,Yes,0,0,0,0,USD,", "Project"),
        ("2026-03-02,C,P,,T,,two,2,No,No,No,Lee,Park,,Yes,0,0,0,0,USD,", "hours"),
    ],
)
def test_incomplete_rows_are_row_errors(tmp_path: Path, line: str, reason: str) -> None:
    export = tmp_path / "bad.csv"
    export.write_text(HEADER + line + "\n", encoding="utf-8")
    [error] = list(harvest.read(export))
    assert isinstance(error, RowError)
    assert error.row == 2
    assert reason in error.reason
