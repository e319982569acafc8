"""The generic format: CSV or JSON Lines with our own columns and the source's ids."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.importer import FIXTURES, dry_run, problem_rows
from timesheets.importer.errors import UnreadableSource
from timesheets.importer.mapping import PeopleMap
from timesheets.importer.records import RowError, SourceRow
from timesheets.importer.sources import generic

CSV_EXPORT = FIXTURES / "generic.csv"
JSONL_EXPORT = FIXTURES / "generic.jsonl"
HEADER = "external_id,user_id,user_email,user_type,date,project,hours,description\n"


def test_csv_rows_keep_their_ids_bom_quoted_commas_and_emoji() -> None:
    first = next(generic.read(CSV_EXPORT))
    assert first == SourceRow(
        row=2,
        source_id="tt-1001",
        person="dana@contractors.example",
        day=date(2026, 3, 2),
        project="StoreZero",
        hundredths=750,  # "7,5"
        description="Checkout, payments 🚀",
        user_type="Contractor",
        updated=datetime(2026, 3, 2, 18, tzinfo=UTC),
    )


def test_csv_through_the_job(people: PeopleMap, tmp_path: Path) -> None:
    summary, entries = dry_run("generic", CSV_EXPORT, people, tmp_path)
    by_id = {e.external_id: e for e in entries}
    assert sorted(by_id) == [
        "generic:tt-1001",
        "generic:tt-1002",
        "generic:tt-1003",
        "generic:tt-1007",
    ]
    dana = by_id["generic:tt-1001"]
    assert (dana.user_id, dana.user_type, dana.day, dana.hundredths) == (
        "c-017",  # mapped from the email
        "Contractor",
        "2026-03-02",
        750,
    )
    assert (by_id["generic:tt-1002"].user_id, by_id["generic:tt-1002"].user_type) == (
        "e-042",  # a user_id is taken as is
        "Employee",
    )
    assert by_id["generic:tt-1007"].hundredths == 123450  # "1.234,50": the API refuses it
    problems = problem_rows(summary)
    assert set(problems) == {5, 6, 7, 8, 9}
    assert problems[9].startswith("hours: ")  # the dry run checks by the API's rules
    assert "unknown person 'ghost@nowhere.example'" in problems[5]
    assert "--date-order" in problems[6]
    assert "range" in problems[7]
    assert "external id repeated" in problems[8]
    assert (summary.duplicates, summary.rejected, summary.exit_code) == (1, 4, 65)


def test_csv_with_the_us_order(people: PeopleMap, tmp_path: Path) -> None:
    summary, entries = dry_run("generic", CSV_EXPORT, people, tmp_path, date_order="us")
    by_id = {e.external_id: e for e in entries}
    assert by_id["generic:tt-1005"].day == "2026-03-04"
    problems = problem_rows(summary)
    assert 6 not in problems
    assert {5, 7, 8} <= set(problems)


def test_week_53_of_2026_spans_the_new_year(people: PeopleMap, tmp_path: Path) -> None:
    _summary, entries = dry_run("generic", CSV_EXPORT, people, tmp_path)
    days = {e.day for e in entries if e.user_id == "e-042"}
    assert days == {"2026-12-31", "2027-01-03"}
    assert {date.fromisoformat(d).isocalendar()[:2] for d in days} == {(2026, 53)}


def test_json_lines_are_numbered_by_line(people: PeopleMap, tmp_path: Path) -> None:
    items = list(generic.read(JSONL_EXPORT))
    errors = {i.row: i.reason for i in items if isinstance(i, RowError)}
    assert errors == {
        5: "malformed JSON: Expecting value",
        6: "each line must be a JSON object",
        7: "hours must be a number",
    }
    rows = {i.row: i for i in items if isinstance(i, SourceRow)}
    assert sorted(rows) == [1, 2, 4, 8]  # line 3 is blank
    assert rows[1].description == "Checkout, payments 🚀"
    assert rows[4].source_id == "2003"  # a numeric id is kept as text
    assert rows[4].hundredths == 225  # "2,25"

    summary, entries = dry_run("generic", JSONL_EXPORT, people, tmp_path)
    assert sorted(e.external_id for e in entries) == [
        "generic:2003",
        "generic:tt-2001",
        "generic:tt-2002",
    ]
    dana = next(e for e in entries if e.external_id == "generic:tt-2001")
    assert dana.user_id == "c-017"  # DANA@... matched regardless of case
    assert "unknown person" in problem_rows(summary)[8]
    assert summary.rejected == 4


def test_rows_without_ids_aggregate_per_person_day_and_project(
    people: PeopleMap, tmp_path: Path
) -> None:
    export = tmp_path / "no_ids.csv"
    export.write_text(
        HEADER
        + ",e-042,,Employee,2026-03-02,StoreZero,2,Review\n"
        + ",e-042,,Employee,2026-03-02,StoreZero,1.5,Pairing\n"
        + ",e-042,,Employee,2026-03-03,StoreZero,1,Review\n",
        encoding="utf-8",
    )
    summary, entries = dry_run("generic", export, people, tmp_path)
    assert sorted((e.day, e.hundredths) for e in entries) == [
        ("2026-03-02", 350),
        ("2026-03-03", 100),
    ]
    assert all(e.external_id.startswith("generic:") and len(e.external_id) == 40 for e in entries)
    assert summary.problems == []


def test_an_unreadable_update_time_is_a_row_error(tmp_path: Path) -> None:
    export = tmp_path / "hours.csv"
    export.write_text(
        HEADER.replace("description", "description,updated_at")
        + "x-1,u-5,,Employee,2026-03-02,StoreZero,1,,yesterday\n"
        + "x-2,u-5,,Employee,2026-03-02,StoreZero,1,,2026-03-02T09:00:00\n",
        encoding="utf-8",
    )
    errors = {r.row: r.reason for r in generic.read(export) if isinstance(r, RowError)}
    assert set(errors) == {2, 3}
    assert "unrecognised time 'yesterday'" in errors[2]
    assert "has no offset" in errors[3]


def test_a_user_id_without_a_type_becomes_a_contractor(people: PeopleMap, tmp_path: Path) -> None:
    export = tmp_path / "untyped.csv"
    export.write_text(HEADER + "x-1,u-5,,,2026-03-02,StoreZero,1,\n", encoding="utf-8")
    _summary, [entry] = dry_run("generic", export, people, tmp_path)
    assert (entry.user_id, entry.user_type, entry.description) == ("u-5", "Contractor", None)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("x-1,,,,2026-03-02,StoreZero,1,", "user_id or user_email is required"),
        ("x-1,u-5,,,,StoreZero,1,", "missing date"),
        ("x-1,u-5,,,2026-03-02,,,", "missing hours, project"),
        ("x-1,u-5,,,2026-03-02,StoreZero,lots,", "unrecognised hours"),
        ("x-1,u-5,,,tomorrow,StoreZero,1,", "unrecognised date"),
    ],
)
def test_incomplete_rows_are_row_errors(tmp_path: Path, line: str, reason: str) -> None:
    export = tmp_path / "bad.csv"
    export.write_text(HEADER + line + "\n", encoding="utf-8")
    [error] = list(generic.read(export))
    assert isinstance(error, RowError)
    assert error.row == 2
    assert reason in error.reason


def test_a_csv_without_the_needed_columns_is_refused(tmp_path: Path) -> None:
    export = tmp_path / "bad.csv"
    export.write_text("external_id,user_id,when,hours\n", encoding="utf-8")
    with pytest.raises(UnreadableSource, match="missing columns date, project"):
        list(generic.read(export))


def test_rows_without_ids_are_duplicates_only_when_every_column_matches(
    people: PeopleMap, tmp_path: Path
) -> None:
    export = tmp_path / "hours.csv"
    row = "e-042,Employee,2026-03-02,StoreZero,2,Review"
    export.write_text(
        "user_id,user_type,date,project,hours,description,updated_at\n"
        f"{row},2026-03-02T09:00:00Z\n{row},2026-03-02T17:00:00Z\n{row},2026-03-02T17:00:00Z\n",
        encoding="utf-8",
    )
    summary, [entry] = dry_run("generic", export, people, tmp_path)
    assert problem_rows(summary) == {4: "duplicate of an earlier row; ignored"}
    assert entry.hundredths == 400
