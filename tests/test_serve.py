"""The supervisor's pace for starting dead workers again."""

from __future__ import annotations

import pytest

from timesheets.serve import RESTART_DELAY_FIRST, RESTART_DELAY_MAX, STEADY_SECONDS, restart_delay


def test_a_worker_that_ran_steadily_is_started_again_at_once() -> None:
    assert restart_delay(STEADY_SECONDS, RESTART_DELAY_MAX) == 0.0


@pytest.mark.parametrize(
    ("last", "expected"),
    [(0.0, RESTART_DELAY_FIRST), (RESTART_DELAY_FIRST, 2 * RESTART_DELAY_FIRST), (20.0, 30.0)],
)
def test_workers_that_die_young_wait_twice_as_long_each_time(last: float, expected: float) -> None:
    assert restart_delay(STEADY_SECONDS / 2, last) == expected
