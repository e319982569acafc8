"""How the use cases answer a write the store could not settle, and creates under one
Idempotency-Key that share a writer turn."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.conftest import MACHINE, counts
from timesheets.api import entries
from timesheets.api.context import ApiContext
from timesheets.api.errors import ApiError
from timesheets.api.idempotency import REUSED, Reply
from timesheets.api.writer import DurabilityUnknown, OutcomeUnknown, StoreUnavailable


async def fails_with(error: Exception) -> None:
    raise error


async def test_an_unknown_outcome_is_a_500_that_says_to_look_before_resending() -> None:
    with pytest.raises(ApiError) as caught:
        await entries._settled(fails_with(OutcomeUnknown("connection lost")))
    assert caught.value.status == 500
    assert caught.value.message == entries.OUTCOME_UNKNOWN
    assert "look it up before sending it again" in entries.OUTCOME_UNKNOWN


async def test_an_unavailable_store_is_a_503_to_retry_and_unknown_durability_a_500() -> None:
    with pytest.raises(ApiError) as unavailable:
        await entries._settled(fails_with(StoreUnavailable("down")))
    with pytest.raises(ApiError) as unsynced:
        await entries._settled(fails_with(DurabilityUnknown("sync failed")))
    assert (unavailable.value.status, unavailable.value.headers) == (503, {"Retry-After": "2"})
    assert (unsynced.value.status, unsynced.value.message) == (500, entries.DURABILITY_UNKNOWN)


DAY = {"user_id": "u1", "project": "P", "date": "2026-03-02", "hours": 20}
DAY_FULL = [{"field": "hours", "message": "more than 24 hours on 2026-03-02"}]


async def in_one_turn(context: ApiContext, bodies: list[dict[str, Any]]) -> list[Any]:
    """Each create's Reply or ApiError, all sent under the key "k-1" at once, which
    the writer takes into one transaction."""
    commits = context.writer.commits
    answers = await asyncio.gather(
        *[entries.create(context, MACHINE, body, "k-1") for body in bodies],
        return_exceptions=True,
    )
    assert context.writer.commits == commits + 1
    return [(a.status, a.errors or a.message) if isinstance(a, ApiError) else a for a in answers]


async def test_the_same_body_under_a_key_the_caps_refused_gets_the_same_refusal(
    context: ApiContext,
) -> None:
    await entries.create(context, MACHINE, DAY, None)
    over = DAY | {"hours": 10}
    assert await in_one_turn(context, [over, over]) == [(422, DAY_FULL)] * 2
    assert await counts(context.engine) == [1, 1, 0]


async def test_another_body_under_a_key_the_caps_refused_is_tried_on_its_own(
    context: ApiContext,
) -> None:
    await entries.create(context, MACHINE, DAY, None)
    await entries.create(context, MACHINE, DAY | {"date": "2026-03-03"}, None)
    over = DAY | {"hours": 10}
    over_the_next_day = DAY | {"date": "2026-03-03", "hours": 5}
    fits = DAY | {"hours": 4}
    answers = await in_one_turn(context, [over, over_the_next_day, over, fits, fits | {"hours": 1}])
    assert answers[:3] == [
        (422, DAY_FULL),
        (422, [{"field": "hours", "message": "more than 24 hours on 2026-03-03"}]),
        (422, DAY_FULL),
    ]
    created = answers[3]
    assert isinstance(created, Reply)
    assert (created.status, created.body["hours"]) == (201, 4)
    assert answers[4] == (422, REUSED)
    assert await counts(context.engine) == [3, 3, 1]

    # The key now holds the create that was stored: its retry replays it, others are 422.
    assert await entries.create(context, MACHINE, fits, "k-1") == created
    with pytest.raises(ApiError) as reused:
        await entries.create(context, MACHINE, over, "k-1")
    assert (reused.value.status, reused.value.message) == (422, REUSED)
    assert await counts(context.engine) == [3, 3, 1]


async def test_creates_under_one_key_read_the_caps_once_whatever_the_rounds(
    context: ApiContext, cap_reads: list[int]
) -> None:
    """Different bodies under one key, each refused by the day cap, are tried one round
    each, against the hours read once for the turn."""
    await entries.create(context, MACHINE, DAY, None)
    cap_reads.clear()
    bodies = [DAY | {"hours": 5, "project": f"P{n}"} for n in range(12)]
    assert await in_one_turn(context, bodies) == [(422, DAY_FULL)] * 12
    assert cap_reads == [12]
    assert await counts(context.engine) == [1, 1, 0]
