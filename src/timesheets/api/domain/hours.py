"""Hours as exact hundredths, never binary floats."""

from __future__ import annotations

import math
from decimal import Decimal

MAX_DAY_HUNDREDTHS = 24 * 100
MAX_WEEK_HUNDREDTHS = 168 * 100


def to_hundredths(value: int | float, *, day: bool = False) -> int:
    """Hours given as a JSON number, as an exact count of hundredths of an hour.

    Raises ValueError for booleans, non-finite values, zero or negative hours (including
    -0), more than two decimals, and more than a week's 168 hours, or a day's 24 for the
    entry of a `day`.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("hours must be a number")
    if isinstance(value, float):
        if not math.isfinite(value) or math.copysign(1, value) < 0:
            raise ValueError("hours must be a positive finite number")
        hundredths = _float_hundredths(value)
    elif value <= 0:
        raise ValueError("hours must be greater than 0")
    else:
        hundredths = value * 100
    if day and hundredths > MAX_DAY_HUNDREDTHS:
        raise ValueError("hours may not exceed 24 on a day")
    if hundredths > MAX_WEEK_HUNDREDTHS:
        raise ValueError("hours may not exceed 168")
    return hundredths


def _float_hundredths(value: float) -> int:
    """A positive float's hours as hundredths, read from its shortest decimal form (what
    the JSON text said): at most two decimals, or ValueError."""
    text = float.__repr__(value)  # a subclass's own repr says nothing of its value
    if "e" in text:  # 1e-05, 1e+16: exactly, through Decimal
        exact = Decimal(text)
        if exact <= 0:
            raise ValueError("hours must be greater than 0")
        scaled = exact * 100
        if scaled != scaled.to_integral_value():
            raise ValueError("hours may have at most two decimals")
        return int(scaled)
    whole, _, fraction = text.partition(".")
    if len(fraction) > 2:
        raise ValueError("hours may have at most two decimals")
    hundredths = int(whole) * 100 + int(fraction.ljust(2, "0"))
    if hundredths <= 0:
        raise ValueError("hours must be greater than 0")
    return hundredths


def to_hours(hundredths: int) -> float | int:
    """The JSON number for a count of hundredths (8 for 800, 7.25 for 725)."""
    whole, part = divmod(hundredths, 100)
    return whole if part == 0 else float(Decimal(hundredths) / 100)
