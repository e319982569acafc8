"""The hour caps on a batch of new entries: which ones fit, and the room a batch leaves.

A batch is stored in order, and an entry is refused when it would take its person's
ISO week past the entry's weekly cap, or its day past 24 hours, given the hours stored
and those of the entries admitted before it (`admit`). Every entry of a batch fits
exactly when, in each of its weeks and days, the hours already stored are at most the
room `room_for` computes: the cap less the batch's own hours up to each entry there,
the smallest over those entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from timesheets.api.domain.hours import MAX_DAY_HUNDREDTHS

WeekKey = tuple[str, int, int]
DayKey = tuple[str, int, int, date]


class Hours(NamedTuple):
    """One new entry as the caps see it."""

    user_id: str
    iso_year: int
    iso_week: int
    entry_date: date | None
    hundredths: int
    weekly_cap: int


def admit(
    batch: Iterable[Hours], weeks: dict[WeekKey, int], days: dict[DayKey, int]
) -> list[str | None]:
    """For each entry in order, None when it fits (its hours are then added to `weeks`
    and `days`, the hours stored per person and week and per person and day), or why
    it does not."""
    refusals: list[str | None] = []
    for entry in batch:
        week = (entry.user_id, entry.iso_year, entry.iso_week)
        if weeks.get(week, 0) + entry.hundredths > entry.weekly_cap:
            name = f"{entry.iso_year}-W{entry.iso_week:02d}"
            refusals.append(f"more than {entry.weekly_cap / 100:g} hours in ISO week {name}")
            continue
        if entry.entry_date is not None:
            day = (*week, entry.entry_date)
            if days.get(day, 0) + entry.hundredths > MAX_DAY_HUNDREDTHS:
                refusals.append(f"more than 24 hours on {entry.entry_date}")
                continue
            days[day] = days.get(day, 0) + entry.hundredths
        weeks[week] = weeks.get(week, 0) + entry.hundredths
        refusals.append(None)
    return refusals


@dataclass(frozen=True)
class Room:
    """The most hundredths that may already be stored per (person, ISO week) and per
    (person, ISO week, day) for the whole batch to fit."""

    weeks: dict[WeekKey, int]
    days: dict[DayKey, int]


def room_for(batch: Iterable[Hours]) -> Room | None:
    """The batch's room, or None when the batch alone exceeds a cap."""
    week_total: dict[WeekKey, int] = {}
    day_total: dict[DayKey, int] = {}
    weeks: dict[WeekKey, int] = {}
    days: dict[DayKey, int] = {}
    for entry in batch:
        week = (entry.user_id, entry.iso_year, entry.iso_week)
        week_total[week] = week_total.get(week, 0) + entry.hundredths
        weeks[week] = min(weeks.get(week, entry.weekly_cap), entry.weekly_cap - week_total[week])
        if entry.entry_date is not None:
            day = (*week, entry.entry_date)
            day_total[day] = day_total.get(day, 0) + entry.hundredths
            days[day] = min(days.get(day, MAX_DAY_HUNDREDTHS), MAX_DAY_HUNDREDTHS - day_total[day])
    if any(room < 0 for room in weeks.values()) or any(room < 0 for room in days.values()):
        return None
    return Room(weeks, days)
