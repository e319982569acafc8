"""Values as exports write them: dates in ISO, US or European order, durations, decimals.

Ambiguous dates (03/04/2026: March or April?) are refused, never guessed, unless the
caller names the order.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

DateOrder = Literal["auto", "iso", "us", "eu"]
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_SLASHED = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")
_DURATION = re.compile(r"(\d+):([0-5]\d)(?::([0-5]\d))?")


def parse_date(text: str, order: DateOrder = "auto") -> date:
    """A calendar date; raises ValueError when invalid or ambiguous."""
    text = text.strip()
    if match := _ISO.fullmatch(text):
        return date(int(match[1]), int(match[2]), int(match[3]))
    match = _SLASHED.fullmatch(text)
    if match is None:
        raise ValueError(f"unrecognised date {text!r}")
    first, second, year = int(match[1]), int(match[2]), int(match[3])
    if order in ("auto", "iso"):
        separator = text[len(match[1])]
        if separator == ".":
            order = "eu"  # 15.01.2026 is only ever day.month.year
        elif first > 12 >= second:
            order = "eu"
        elif second > 12 >= first or first == second:
            order = "us"
        else:
            raise ValueError(f"ambiguous date {text!r}: pass --date-order us or eu")
    month, day = (first, second) if order == "us" else (second, first)
    return date(year, month, day)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time with an offset (`Z`, `-05:00`), or a date alone (midnight UTC),
    as an aware datetime in UTC; raises ValueError when unreadable or without an offset."""
    text = text.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"unrecognised time {text!r}: write it in ISO 8601, such as 2026-03-02T09:00:00Z"
        ) from None
    if _ISO.fullmatch(text):
        return value.replace(tzinfo=UTC)
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no offset: add Z or one such as +01:00")
    return value.astimezone(UTC)


def parse_duration(text: str) -> int:
    """`H:MM[:SS]` as hundredths of an hour, rounded to the nearest hundredth."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"unrecognised duration {text!r}")
    seconds = int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3] or 0)
    return (seconds * 100 + 1800) // 3600


def parse_decimal_hours(text: str) -> int:
    """Decimal hours, with `.` or `,` as the decimal separator, as hundredths."""
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    if "," in cleaned and "." in cleaned:
        # 1,234.50 or 1.234,50: the last separator is the decimal one.
        decimal_sep = "," if cleaned.rfind(",") > cleaned.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        cleaned = cleaned.replace(thousands, "").replace(decimal_sep, ".")
    else:
        cleaned = cleaned.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(f"unrecognised hours {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"unrecognised hours {text!r}")
    return int((value * 100).quantize(Decimal(1)))
