"""The fixed-window failure throttle (RFC 6749 §2.3.1, §10.10), driven by an injected clock."""

from __future__ import annotations

import pytest

from timesheets.authserver.oauth.throttle import FailureThrottle


def fail(throttle: FailureThrottle, key: str, times: int, now: float) -> None:
    """Record `times` failures for `key` at `now`."""
    for _ in range(times):
        throttle.record_failure(key, now)


def test_an_unknown_key_may_try() -> None:
    assert FailureThrottle(limit=3, window=60).retry_after("client:x", 0.0) == 0


@pytest.mark.parametrize("limit", [1, 3, 10])
def test_below_the_limit_a_key_may_try(limit: int) -> None:
    throttle = FailureThrottle(limit=limit, window=60)
    fail(throttle, "k", limit - 1, 100.0)
    assert throttle.retry_after("k", 100.0) == 0


@pytest.mark.parametrize("limit", [1, 3, 10])
def test_at_the_limit_a_key_is_locked_until_its_window_ends(limit: int) -> None:
    throttle = FailureThrottle(limit=limit, window=60)
    fail(throttle, "k", limit, 100.0)
    assert throttle.retry_after("k", 100.0) == 60
    assert throttle.retry_after("k", 130.0) == 30


def test_retry_after_rounds_up_and_is_at_least_one_second() -> None:
    throttle = FailureThrottle(limit=1, window=60)
    throttle.record_failure("k", 100.0)
    assert throttle.retry_after("k", 100.5) == 60
    assert throttle.retry_after("k", 159.001) == 1
    assert throttle.retry_after("k", 159.999) == 1


def test_the_window_starts_at_the_first_failure_and_is_fixed() -> None:
    """Failures later in the window count toward it but do not extend it."""
    throttle = FailureThrottle(limit=3, window=60)
    throttle.record_failure("k", 100.0)
    throttle.record_failure("k", 140.0)
    throttle.record_failure("k", 150.0)
    assert throttle.retry_after("k", 150.0) == 10
    throttle.record_failure("k", 155.0)  # a failure while locked
    assert throttle.retry_after("k", 155.0) == 5
    assert throttle.retry_after("k", 160.0) == 0


def test_failures_spread_over_two_windows_do_not_lock() -> None:
    throttle = FailureThrottle(limit=3, window=60)
    fail(throttle, "k", 2, 0.0)
    fail(throttle, "k", 2, 60.0)  # a new window: the earlier two no longer count
    assert throttle.retry_after("k", 60.0) == 0


@pytest.mark.parametrize("later", [160.0, 161.0, 10_000.0])
def test_a_locked_key_unlocks_after_the_window(later: float) -> None:
    throttle = FailureThrottle(limit=3, window=60)
    fail(throttle, "k", 3, 100.0)
    assert throttle.retry_after("k", later) == 0
    throttle.record_failure("k", later)  # counting restarts from one
    assert throttle.retry_after("k", later) == 0


def test_keys_are_independent() -> None:
    throttle = FailureThrottle(limit=2, window=60)
    fail(throttle, "client:a", 2, 0.0)
    fail(throttle, "client:b", 1, 0.0)
    assert throttle.retry_after("client:a", 1.0) == 59
    assert throttle.retry_after("client:b", 1.0) == 0
    assert throttle.retry_after("address:127.0.0.1", 1.0) == 0


@pytest.mark.parametrize("max_keys", [1, 5, 9, 10, 25, 100])
def test_the_number_of_tracked_keys_stays_within_max_keys(max_keys: int) -> None:
    """Memory is bounded however many distinct keys fail (e.g. guessed client ids)."""
    throttle = FailureThrottle(limit=3, window=60, max_keys=max_keys)
    for i in range(max_keys * 5):
        throttle.record_failure(f"k{i}", float(i) / 1000)
        assert len(throttle._windows) <= max_keys


def test_eviction_drops_expired_windows_first_so_a_live_lock_survives() -> None:
    throttle = FailureThrottle(limit=2, window=60, max_keys=10)
    for i in range(9):
        throttle.record_failure(f"old{i}", 0.0)
    fail(throttle, "victim", 2, 50.0)
    throttle.record_failure("new", 70.0)  # full: the nine expired windows go
    assert throttle.retry_after("victim", 70.0) == 40
    assert set(throttle._windows) == {"victim", "new"}
