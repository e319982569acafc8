"""The people file: emails or names to our users; mistakes name the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.importer import FIXTURES
from timesheets.importer.mapping import PeopleMap, Person


def write(tmp_path: Path, text: str, *, bom: bool = False) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


def test_the_fixture_maps_emails_and_harvest_names() -> None:
    people = PeopleMap.load(FIXTURES / "people.csv")
    assert people.find("dana@contractors.example") == Person("c-017", "Contractor")
    assert people.find("Dana Whitfield") == Person("c-017", "Contractor")
    assert people.find("Lee Park") == Person("e-042", "Employee")
    assert people.find("Zoë Ångström") == Person("c-099", "Contractor")


def test_emails_and_names_match_regardless_of_case_and_surrounding_space() -> None:
    people = PeopleMap.load(FIXTURES / "people.csv")
    assert people.find("lee.park@abc.example") == Person("e-042", "Employee")
    assert people.find("  LEE.PARK@abc.EXAMPLE ") == Person("e-042", "Employee")
    assert people.find("zoë ångström") == Person("c-099", "Contractor")


def test_nobody_is_invented() -> None:
    people = PeopleMap.load(FIXTURES / "people.csv")
    assert people.find("ghost@nowhere.example") is None
    assert people.find("Ghost Writer") is None
    assert people.find("") is None


def test_no_file_maps_nobody() -> None:
    assert PeopleMap.load(None).find("dana@contractors.example") is None


def test_a_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = write(tmp_path, "person,user_id,user_type\nana@x.example,e-1,Employee\n", bom=True)
    assert PeopleMap.load(path).find("ana@x.example") == Person("e-1", "Employee")


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, "person,user_id\nana@x.example,e-1\n")
    with pytest.raises(ValueError, match=r"people\.csv: missing columns user_type"):
        PeopleMap.load(path)


def test_an_empty_file_names_every_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ValueError, match="missing columns person, user_id, user_type"):
        PeopleMap.load(path)


@pytest.mark.parametrize(
    "bad_line",
    [
        "bo@x.example,e-2,Manager",  # not a user type
        "bo@x.example,e-2,employee",  # user types are spelled exactly
        "bo@x.example,,Employee",  # no user id
        ",e-2,Employee",  # no person
        "bo@x.example,e-2",  # a short line
    ],
)
def test_a_bad_line_is_refused_naming_its_line_number(tmp_path: Path, bad_line: str) -> None:
    path = write(tmp_path, f"person,user_id,user_type\nana@x.example,e-1,Employee\n{bad_line}\n")
    with pytest.raises(ValueError, match=r"people\.csv line 3: .*Employee or Contractor"):
        PeopleMap.load(path)


def test_a_person_listed_twice_is_refused_naming_the_second_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "person,user_id,user_type\n"
        "ana@x.example,e-1,Employee\n"
        "bo@x.example,e-2,Employee\n"
        "ANA@x.example,c-9,Contractor\n",
    )
    with pytest.raises(ValueError, match=r"people\.csv line 4: ANA@x\.example appears twice"):
        PeopleMap.load(path)
