"""How the use cases answer a write the store could not settle."""

from __future__ import annotations

import pytest

from timesheets.api import entries
from timesheets.api.errors import ApiError
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
