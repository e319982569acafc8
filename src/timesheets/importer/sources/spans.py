"""Time spans of trackers that record start and end: split at midnight into days."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from timesheets.importer.parsing import DateOrder, parse_date


def parse_time(text: str) -> time:
    """`HH:MM[:SS]`, or with AM/PM."""
    cleaned = text.strip().upper()
    for layout in ("%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p"):
        try:
            return datetime.strptime(cleaned, layout).time()
        except ValueError:
            continue
    raise ValueError(f"unrecognised time {text!r}")


def split_by_day(
    start_date: str,
    start_time: str,
    end_date: str,
    end_time: str,
    hundredths: int,
    order: DateOrder,
) -> list[tuple[date, int]]:
    """The duration's hundredths per calendar day, by the share of the span in each day.

    A span that crosses midnight (23:00 to 01:00) counts one hour on each day. Without
    usable times the whole duration falls on the start date.
    """
    first = parse_date(start_date, order)
    if not start_time or not end_time:
        return [(first, hundredths)]
    start = datetime.combine(first, parse_time(start_time))
    end = datetime.combine(parse_date(end_date, order) if end_date else first, parse_time(end_time))
    if end <= start:
        end += timedelta(days=1)
    if end <= start:
        raise ValueError(f"the span ends ({end_date} {end_time}) before it starts")
    total = (end - start).total_seconds()
    parts: list[tuple[date, int]] = []
    cursor, assigned = start, 0
    while cursor < end:
        boundary = min(end, datetime.combine(cursor.date() + timedelta(days=1), time()))
        share = round(hundredths * (boundary - cursor).total_seconds() / total)
        parts.append((cursor.date(), share))
        assigned += share
        cursor = boundary
    day, share = parts[-1]
    parts[-1] = (day, share + hundredths - assigned)
    return [(day, share) for day, share in parts if share > 0]
