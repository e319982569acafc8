"""Values as exports write them: dates in three orders, durations and locale decimals."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from timesheets.importer.parsing import (
    parse_date,
    parse_decimal_hours,
    parse_duration,
    parse_instant,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02", date(2026, 3, 2)),
        ("  2026-03-02 ", date(2026, 3, 2)),
        ("2026-12-31", date(2026, 12, 31)),
        ("2028-02-29", date(2028, 2, 29)),
        ("13/01/2026", date(2026, 1, 13)),  # day first: only European reads it
        ("01/13/2026", date(2026, 1, 13)),  # month first: only US reads it
        ("3/16/2026", date(2026, 3, 16)),
        ("16.03.2026", date(2026, 3, 16)),
        ("01.02.2026", date(2026, 2, 1)),  # dots are only ever day.month.year
        ("03/03/2026", date(2026, 3, 3)),  # the same both ways
        ("28-12-2026", date(2026, 12, 28)),
    ],
)
def test_unambiguous_dates_are_read_without_an_order(text: str, expected: date) -> None:
    assert parse_date(text) == expected


def test_an_ambiguous_date_is_refused_naming_the_date_order_flag() -> None:
    with pytest.raises(ValueError, match="--date-order") as caught:
        parse_date("03/04/2026")
    assert "03/04/2026" in str(caught.value)


@pytest.mark.parametrize(
    ("order", "expected"),
    [("us", date(2026, 3, 4)), ("eu", date(2026, 4, 3))],
)
def test_an_ambiguous_date_is_read_in_the_order_given(order: str, expected: date) -> None:
    assert parse_date("03/04/2026", order) == expected  # type: ignore[arg-type]


def test_a_given_order_overrides_what_the_day_would_suggest() -> None:
    # With the order named, 13/01/2026 is not silently flipped: month 13 does not exist.
    with pytest.raises(ValueError, match="month"):
        parse_date("13/01/2026", "us")


def test_iso_dates_are_read_whatever_the_order() -> None:
    for order in ("auto", "iso", "us", "eu"):
        assert parse_date("2026-03-04", order) == date(2026, 3, 4)  # type: ignore[arg-type]


def test_the_iso_order_does_not_guess_the_order_of_a_slashed_date() -> None:
    # `--date-order iso` says nothing about day or month first: 03/04/2026 stays
    # ambiguous and must be refused, not read as European.
    with pytest.raises(ValueError, match="03/04/2026"):
        parse_date("03/04/2026", "iso")


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30",
        "2026-13-01",
        "2026-00-10",
        "2027-02-29",
        "02/30/2026",
        "30.02.2026",
        "31/04/2026",
    ],
)
def test_dates_that_do_not_exist_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"range|month"):
        parse_date(text)


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2026/03/02", "03/04/26", "2026-3-2", "2026-03-02T09:00", "1e3"]
)
def test_unrecognised_dates_are_refused_naming_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="unrecognised date"):
        parse_date(text)


@pytest.mark.parametrize(
    ("text", "hundredths"),
    [
        ("1:00", 100),
        ("01:30:00", 150),
        ("7:30", 750),
        ("03:30:00", 350),
        ("0:00:00", 0),
        ("0:00:18", 1),  # 18 s is half a hundredth of an hour: rounds up
        ("0:00:17", 0),
        ("0:20:00", 33),  # a third of an hour
        ("0:40:00", 67),
        ("25:00:00", 2500),  # the parser reads it; the API enforces the caps
        (" 2:15:00 ", 225),
    ],
)
def test_durations_become_hundredths_rounded_to_the_nearest(text: str, hundredths: int) -> None:
    assert parse_duration(text) == hundredths


@pytest.mark.parametrize("text", ["", "90", "1:60", "1:5", "1:00:60", "-1:00", "1.5", "h:mm"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="unrecognised duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "hundredths"),
    [
        ("8", 800),
        ("7.5", 750),
        ("7,5", 750),
        ("7,50", 750),
        ("0.25", 25),
        ("0,01", 1),
        ("1.234,50", 123450),  # German: dot for thousands, comma for decimals
        ("1,234.50", 123450),  # US: comma for thousands, dot for decimals
        ("1\u00a0234,50", 123450),  # French: no-break space for thousands
        ("1 234.50", 123450),
        (" 2.25 ", 225),
    ],
)
def test_decimal_hours_in_either_locale(text: str, hundredths: int) -> None:
    assert parse_decimal_hours(text) == hundredths


@pytest.mark.parametrize("text", ["", "seven", "NaN", "Infinity", "-inf", "7,5h", "1..5"])
def test_unreadable_decimal_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="unrecognised hours"):
        parse_decimal_hours(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T09:00:00Z", datetime(2026, 3, 2, 9, tzinfo=UTC)),
        ("2026-03-02T08:30:00-05:00", datetime(2026, 3, 2, 13, 30, tzinfo=UTC)),
        (" 2026-03-02T10:00:00+01:00 ", datetime(2026, 3, 2, 9, tzinfo=UTC)),
        ("2026-03-02", datetime(2026, 3, 2, tzinfo=UTC)),
    ],
)
def test_update_times_are_read_as_instants_in_utc(text: str, expected: datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_an_offset_time_after_a_utc_one_compares_later_though_its_text_sorts_first() -> None:
    assert parse_instant("2026-03-02T08:30:00-05:00") > parse_instant("2026-03-02T09:00:00Z")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("yesterday", "unrecognised time 'yesterday'"),
        ("2026-03-02T25:00:00Z", "unrecognised time"),
        ("2026-03-02T09:00:00", "has no offset"),
    ],
)
def test_unreadable_or_ambiguous_times_are_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_instant(text)
