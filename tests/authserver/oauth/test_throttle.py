"""The fixed-window rule of failure throttling."""

from __future__ import annotations

import pytest

from timesheets.authserver.oauth.throttle import wait_seconds


@pytest.mark.parametrize("failures", [0, 1, 2])
def test_below_the_limit_a_key_may_try(failures: int) -> None:
    assert wait_seconds(0.0, failures, 1.0, limit=3, window=60) == 0


def test_at_the_limit_the_key_waits_until_its_window_ends() -> None:
    assert wait_seconds(0.0, 3, 1.0, limit=3, window=60) == 59
    assert wait_seconds(0.0, 7, 30.0, limit=3, window=60) == 30


def test_the_wait_rounds_up_and_is_never_zero_while_locked() -> None:
    assert wait_seconds(0.0, 3, 59.5, limit=3, window=60) == 1
    assert wait_seconds(0.0, 3, 59.999, limit=3, window=60) == 1


def test_an_ended_window_holds_no_lock() -> None:
    assert wait_seconds(0.0, 50, 60.0, limit=3, window=60) == 0
    assert wait_seconds(0.0, 50, 500.0, limit=3, window=60) == 0
