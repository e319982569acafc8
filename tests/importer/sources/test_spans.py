"""Splitting a tracked span into calendar days, in proportion to the time in each."""

from __future__ import annotations

from datetime import date, time

import pytest

from timesheets.importer.sources.spans import parse_time, split_by_day

MARCH_3 = date(2026, 3, 3)
MARCH_4 = date(2026, 3, 4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00:00", time(9)),
        ("9:05", time(9, 5)),
        ("23:59:59", time(23, 59, 59)),
        ("09:00 AM", time(9)),
        ("12:30 pm", time(12, 30)),
        ("11:00:30 PM", time(23, 0, 30)),
        ("12:00 AM", time(0)),
    ],
)
def test_times_in_24_and_12_hour_clocks(text: str, expected: time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "25:00", "9", "13:00 PM", "noon"])
def test_unreadable_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="unrecognised time"):
        parse_time(text)


def test_a_span_within_a_day_stays_on_it() -> None:
    assert split_by_day("2026-03-03", "09:00", "2026-03-03", "17:30", 850, "auto") == [
        (MARCH_3, 850)
    ]


def test_23_to_01_counts_one_hour_per_day() -> None:
    assert split_by_day("2026-03-03", "23:00", "2026-03-04", "01:00", 200, "auto") == [
        (MARCH_3, 100),
        (MARCH_4, 100),
    ]


def test_the_split_follows_the_share_of_the_span_in_each_day() -> None:
    assert split_by_day("2026-03-03", "22:00", "2026-03-04", "01:00", 300, "auto") == [
        (MARCH_3, 200),
        (MARCH_4, 100),
    ]


def test_the_recorded_duration_is_shared_not_the_wall_clock() -> None:
    # Toggl records 1.5 h for a 23:00-01:00 span (a paused timer): 0.75 h each side.
    assert split_by_day("2026-03-03", "23:00", "2026-03-04", "01:00", 150, "auto") == [
        (MARCH_3, 75),
        (MARCH_4, 75),
    ]


def test_rounding_never_loses_or_invents_a_hundredth() -> None:
    parts = split_by_day("2026-03-03", "23:20", "2026-03-04", "00:30", 117, "auto")
    assert sum(share for _day, share in parts) == 117
    assert [day for day, _share in parts] == [MARCH_3, MARCH_4]


def test_an_end_before_the_start_without_an_end_date_is_the_next_day() -> None:
    assert split_by_day("2026-03-03", "23:00", "", "01:00", 200, "auto") == [
        (MARCH_3, 100),
        (MARCH_4, 100),
    ]


def test_a_span_over_several_days_is_shared_between_all_of_them() -> None:
    parts = split_by_day("2026-03-03", "12:00", "2026-03-05", "12:00", 4800, "auto")
    assert parts == [(MARCH_3, 1200), (MARCH_4, 2400), (date(2026, 3, 5), 1200)]


def test_a_span_across_new_year_is_split_into_both_years() -> None:
    parts = split_by_day("12/31/2026", "11:00 PM", "01/01/2027", "01:00 AM", 200, "auto")
    assert parts == [(date(2026, 12, 31), 100), (date(2027, 1, 1), 100)]


def test_without_times_everything_falls_on_the_start_date() -> None:
    assert split_by_day("2026-03-03", "", "", "", 725, "auto") == [(MARCH_3, 725)]


def test_a_day_with_no_share_is_left_out() -> None:
    # A second past midnight of a 0.01 h span: all of it before midnight.
    assert split_by_day("2026-03-03", "23:59:30", "2026-03-04", "00:00:01", 1, "auto") == [
        (MARCH_3, 1)
    ]


def test_dates_follow_the_order_given() -> None:
    assert split_by_day("03/04/2026", "09:00", "03/04/2026", "10:00", 100, "eu") == [
        (date(2026, 4, 3), 100)
    ]
    with pytest.raises(ValueError, match="--date-order"):
        split_by_day("03/04/2026", "09:00", "03/04/2026", "10:00", 100, "auto")


def test_a_span_that_ends_days_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match=r"ends \(2026-01-01 09:00\) before it starts"):
        split_by_day("2026-01-05", "10:00", "2026-01-01", "09:00", 100, "auto")
