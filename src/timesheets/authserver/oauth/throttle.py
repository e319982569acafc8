"""Throttling of repeated failures (RFC 6749 §2.3.1, §10.10): the fixed-window rule.

Pure: the caller passes the window's start, its failure count and the clock (the counts
themselves live in the database, see `authserver/shared_throttle.py`). A key that
reaches the limit stays locked until its window ends, even for a correct secret, so
guessing gains nothing from a lucky try.
"""

from __future__ import annotations

import math


def wait_seconds(started: float, failures: int, now: float, limit: int, window: float) -> int:
    """Seconds a key with `failures` since `started` must still wait (0: it may try)."""
    if now - started >= window or failures < limit:
        return 0
    return max(1, math.ceil(started + window - now))
