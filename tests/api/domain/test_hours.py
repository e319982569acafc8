"""Hours as exact hundredths: what JSON numbers are accepted, and exact round trips."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timesheets.api.domain.hours import (
    MAX_DAY_HUNDREDTHS,
    MAX_WEEK_HUNDREDTHS,
    to_hours,
    to_hundredths,
)

#: Every hours value with at most two decimals in (0, 168].
valid_hours = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal(168), places=2, allow_nan=False
)


def test_caps_are_24_hours_a_day_and_168_a_week() -> None:
    assert MAX_DAY_HUNDREDTHS == 2400
    assert MAX_WEEK_HUNDREDTHS == 168 * 100


@pytest.mark.parametrize(
    ("value", "hundredths"),
    [
        (5, 500),
        (24, 2400),
        (0.01, 1),
        (7.25, 725),
        (7.1, 710),
        (23.99, 2399),
        (24.0, 2400),
        (40, 4000),
        (167.99, 16799),
        (168, 16800),
    ],
)
def test_numbers_become_exact_hundredths(value: int | float, hundredths: int) -> None:
    assert to_hundredths(value) == hundredths


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "must be a number"),
        (False, "must be a number"),
        ("8", "must be a number"),
        (None, "must be a number"),
        (Decimal("8"), "must be a number"),
        ([8], "must be a number"),
        (math.nan, "positive finite"),
        (math.inf, "positive finite"),
        (-math.inf, "positive finite"),
        (-0.0, "positive finite"),
        (-1.5, "positive finite"),
        (0, "greater than 0"),
        (0.0, "greater than 0"),
        (-1, "greater than 0"),
        (7.123, "at most two decimals"),
        (0.001, "at most two decimals"),
        (0.1 + 0.2, "at most two decimals"),
        (168.01, "may not exceed 168"),
        (169, "may not exceed 168"),
        (10**100, "may not exceed 168"),
        (1e300, "may not exceed 168"),
    ],
)
def test_anything_else_is_refused_with_a_reason(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_hundredths(value)


@pytest.mark.parametrize(
    ("hundredths", "hours"), [(800, 8), (725, 7.25), (1, 0.01), (2400, 24), (710, 7.1)]
)
def test_to_hours_writes_whole_hours_as_integers(hundredths: int, hours: float | int) -> None:
    result = to_hours(hundredths)
    assert result == hours
    assert type(result) is type(hours)


@given(valid_hours)
def test_any_two_decimal_value_round_trips_through_a_json_float(hours: Decimal) -> None:
    # What a JSON parser hands over for "7.25" is the float 7.25.
    hundredths = to_hundredths(float(hours))
    assert hundredths == int(hours * 100)
    assert Decimal(repr(to_hours(hundredths))) == hours
    assert to_hundredths(to_hours(hundredths)) == hundredths


@given(st.integers(min_value=1, max_value=168))
def test_whole_hours_round_trip_as_integers(hours: int) -> None:
    hundredths = to_hundredths(hours)
    assert hundredths == hours * 100
    assert to_hours(hundredths) == hours
    assert to_hundredths(float(hours)) == hundredths


@given(st.integers(min_value=1, max_value=MAX_WEEK_HUNDREDTHS))
def test_every_count_of_hundredths_round_trips(hundredths: int) -> None:
    assert to_hundredths(to_hours(hundredths)) == hundredths


@given(valid_hours, st.integers(min_value=1, max_value=9))
def test_a_third_decimal_is_always_refused(hours: Decimal, thousandths: int) -> None:
    value = hours - Decimal("0.01") + Decimal(thousandths) / 1000
    with pytest.raises(ValueError, match="at most two decimals"):
        to_hundredths(float(value))


@given(st.decimals(min_value=Decimal("168.01"), max_value=Decimal(10**6), places=2))
def test_more_than_a_week_is_always_refused(hours: Decimal) -> None:
    with pytest.raises(ValueError, match="may not exceed 168"):
        to_hundredths(float(hours))


@given(st.integers(min_value=1, max_value=MAX_DAY_HUNDREDTHS))
def test_a_day_holds_up_to_24_hours(hundredths: int) -> None:
    assert to_hundredths(to_hours(hundredths), day=True) == hundredths


@given(st.integers(min_value=MAX_DAY_HUNDREDTHS + 1, max_value=10**8))
def test_a_day_never_holds_more_than_24_hours(hundredths: int) -> None:
    """Past a week's hours too, a day's entry is told a day's limit."""
    with pytest.raises(ValueError, match="may not exceed 24 on a day"):
        to_hundredths(to_hours(hundredths), day=True)


def _by_decimal(value: float, day: bool) -> int | str:
    """What a float's hours are by definition: its shortest decimal form times 100 when
    that is a whole positive number of hundredths within the caps, else the refusal."""
    scaled = Decimal(repr(value)) * 100
    if scaled <= 0:
        return "hours must be greater than 0"
    if scaled != scaled.to_integral_value():
        return "hours may have at most two decimals"
    if day and scaled > MAX_DAY_HUNDREDTHS:
        return "hours may not exceed 24 on a day"
    if scaled > MAX_WEEK_HUNDREDTHS:
        return "hours may not exceed 168"
    return int(scaled)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=0.0), st.booleans())
def test_any_float_is_read_exactly_as_its_decimal_form(value: float, day: bool) -> None:
    expected = _by_decimal(value, day)
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=f"^{expected}$"):
            to_hundredths(value, day=day)
    else:
        assert to_hundredths(value, day=day) == expected


class _Labelled(float):
    def __repr__(self) -> str:
        return f"_Labelled({float(self)})"


def test_a_float_subclass_counts_by_its_value_not_its_repr() -> None:
    assert to_hundredths(_Labelled(7.5)) == 750
    with pytest.raises(ValueError, match="two decimals"):
        to_hundredths(_Labelled(1e-05))
