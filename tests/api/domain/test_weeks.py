"""ISO 8601 weeks: week 53 only in long years, the week of a date, `YYYY-Www` parsing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timesheets.api.domain.weeks import (
    check_week,
    format_week,
    parse_week,
    week_of,
    weeks_in_year,
)

LONG_YEARS = [2004, 2009, 2015, 2020, 2026, 2032]
SHORT_YEARS = [2017, 2021, 2022, 2023, 2024, 2025]


@pytest.mark.parametrize("year", LONG_YEARS)
def test_long_years_have_week_53(year: int) -> None:
    assert weeks_in_year(year) == 53
    check_week(year, 53)


@pytest.mark.parametrize("year", SHORT_YEARS)
def test_short_years_refuse_week_53(year: int) -> None:
    assert weeks_in_year(year) == 52
    with pytest.raises(ValueError, match=f"ISO year {year} has weeks 1 to 52"):
        check_week(year, 53)


@pytest.mark.parametrize(("year", "week"), [(2024, 0), (2024, -1), (2026, 54), (2025, 99)])
def test_weeks_outside_the_year_are_refused(year: int, week: int) -> None:
    with pytest.raises(ValueError, match="has weeks 1 to"):
        check_week(year, week)


@pytest.mark.parametrize("year", [0, -1, 10000])
def test_years_outside_1_to_9999_are_refused(year: int) -> None:
    with pytest.raises(ValueError, match="year must be between 1 and 9999"):
        check_week(year, 1)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2024, 12, 30), (2025, 1)),
        (date(2024, 12, 29), (2024, 52)),
        (date(2021, 1, 3), (2020, 53)),
        (date(2021, 1, 4), (2021, 1)),
        (date(2026, 12, 31), (2026, 53)),
        (date(2027, 1, 3), (2026, 53)),
        (date(2017, 6, 5), (2017, 23)),
    ],
)
def test_week_of_maps_dates_across_year_boundaries(day: date, expected: tuple[int, int]) -> None:
    assert week_of(day) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-W53", (2026, 53)), ("2020-W53", (2020, 53)), ("2024-W01", (2024, 1))],
)
def test_parse_week_reads_two_digit_weeks(text: str, expected: tuple[int, int]) -> None:
    assert parse_week(text) == expected
    assert format_week(*expected) == text


@pytest.mark.parametrize(
    "text",
    ["2024-W1", "2024-w01", "2024W01", "24-W01", "2024-W001", " 2024-W01", "2024-W01\n", ""],
)
def test_parse_week_refuses_other_spellings(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-Www"):
        parse_week(text)


@pytest.mark.parametrize("text", ["2021-W53", "2025-W53", "2024-W00", "2026-W54", "0000-W01"])
def test_parse_week_refuses_weeks_that_do_not_exist(text: str) -> None:
    with pytest.raises(ValueError, match=r"ISO year|year must be"):
        parse_week(text)


def test_format_week_pads_year_and_week() -> None:
    assert format_week(17, 3) == "0017-W03"


@given(st.dates())
def test_every_date_has_a_week_that_check_week_accepts(day: date) -> None:
    year, week = week_of(day)
    check_week(year, week)
    assert parse_week(format_week(year, week)) == (year, week)


@given(st.dates(min_value=date(1, 1, 4), max_value=date(9999, 12, 24)))
def test_the_next_week_is_one_later_or_week_1_of_the_next_year(day: date) -> None:
    year, week = week_of(day)
    following = week_of(day + timedelta(days=7))
    expected = (year, week + 1) if week < weeks_in_year(year) else (year + 1, 1)
    assert following == expected
