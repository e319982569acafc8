"""The hour caps on a batch: which entries fit, and the room a whole batch leaves."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from timesheets.api.domain.caps import DayKey, Hours, WeekKey, admit, room_for
from timesheets.api.domain.weeks import week_of

MONDAY = date(2025, 1, 6)


def hours(user: str, hundredths: int, day: date | None = MONDAY, cap: int = 4000) -> Hours:
    """An entry of `user` on `day` (or in that Monday's week when None)."""
    iso_year, iso_week = week_of(day or MONDAY)
    return Hours(user, iso_year, iso_week, day, hundredths, cap)


def test_entries_are_admitted_in_order_and_counted_as_they_go() -> None:
    weeks: dict[WeekKey, int] = {("ann", 2025, 2): 3000}
    days: dict[DayKey, int] = {}
    batch = [hours("ann", 600), hours("ann", 600), hours("ann", 400, MONDAY + timedelta(1))]
    assert admit(batch, weeks, days) == [None, "more than 40 hours in ISO week 2025-W02", None]
    assert weeks == {("ann", 2025, 2): 4000}
    assert days == {("ann", 2025, 2, MONDAY): 600, ("ann", 2025, 2, MONDAY + timedelta(1)): 400}


def test_a_day_past_24_hours_is_refused_even_under_the_weekly_cap() -> None:
    days: dict[DayKey, int] = {("bob", 2025, 2, MONDAY): 2000}
    refusals = admit([hours("bob", 500, cap=16800), hours("bob", 400, cap=16800)], {}, days)
    assert refusals == ["more than 24 hours on 2025-01-06", None]


def test_week_level_entries_count_toward_the_week_only() -> None:
    days: dict[DayKey, int] = {}
    assert admit([hours("cy", 2400, None), hours("cy", 1600)], {}, days) == [None, None]
    assert days == {("cy", 2025, 2, MONDAY): 1600}


def test_room_is_the_cap_less_the_batch_smallest_over_its_entries() -> None:
    batch = [hours("ann", 600, cap=4000), hours("ann", 300, cap=1000), hours("bob", 200, None)]
    room = room_for(batch)
    assert room is not None
    # ann: 4000 - 600 after the first entry, 1000 - 900 after the second (a lower cap).
    assert room.weeks == {("ann", 2025, 2): 100, ("bob", 2025, 2): 3800}
    assert room.days == {("ann", 2025, 2, MONDAY): 1500}


def test_a_batch_that_alone_exceeds_a_cap_has_no_room() -> None:
    assert room_for([hours("ann", 2000), hours("ann", 500)]) is None  # 25 h on one day
    assert room_for([hours("ann", 600, cap=500)]) is None


days = st.sampled_from([MONDAY + timedelta(n) for n in (0, 1, 7)])
caps = st.sampled_from([1000, 4000, 16800])
users = st.sampled_from(["ann", "bob"])
# A day's entry holds up to 24 hours, a week's up to 168 (`to_hundredths`).
batches = st.lists(
    st.one_of(
        st.builds(hours, user=users, hundredths=st.integers(1, 2400), day=days, cap=caps),
        st.builds(hours, user=users, hundredths=st.integers(1, 16800), day=st.none(), cap=caps),
    ),
    min_size=1,
    max_size=8,
)
stored = st.integers(min_value=0, max_value=5000)


@given(batches, st.dictionaries(st.sampled_from(["ann", "bob"]), stored), stored)
def test_a_batch_fits_whole_exactly_when_what_is_stored_is_within_its_room(
    batch: list[Hours], week_stored: dict[str, int], day_stored: int
) -> None:
    weeks = {(e.user_id, e.iso_year, e.iso_week): week_stored.get(e.user_id, 0) for e in batch}
    days = {
        (e.user_id, e.iso_year, e.iso_week, e.entry_date): day_stored
        for e in batch
        if e.entry_date is not None
    }
    room = room_for(batch)
    within = (
        room is not None
        and all(weeks[key] <= left for key, left in room.weeks.items())
        and all(days[key] <= left for key, left in room.days.items())
    )
    assert within == all(refusal is None for refusal in admit(batch, dict(weeks), dict(days)))
