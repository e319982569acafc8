"""Throttling of repeated failures (RFC 6749 §2.3.1, §10.10): a fixed-window counter per key.

Pure: the caller passes the clock. A key that reaches the limit stays locked until its
window ends, even for a correct secret, so guessing gains nothing from a lucky try.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def wait_seconds(started: float, failures: int, now: float, limit: int, window: float) -> int:
    """Seconds a key with `failures` since `started` must still wait (0: it may try)."""
    if now - started >= window or failures < limit:
        return 0
    return max(1, math.ceil(started + window - now))


@dataclass
class _Window:
    started: float
    failures: int = 0


@dataclass
class FailureThrottle:
    """Counts failures per key within `window` seconds and locks at `limit`."""

    limit: int
    window: float
    max_keys: int = 100_000
    _windows: dict[str, _Window] = field(default_factory=dict)

    def retry_after(self, key: str, now: float) -> int:
        """Seconds the key must still wait, 0 when it may try."""
        entry = self._windows.get(key)
        if entry is None:
            return 0
        return wait_seconds(entry.started, entry.failures, now, self.limit, self.window)

    def record_failure(self, key: str, now: float) -> None:
        """Count one failure for the key."""
        entry = self._windows.get(key)
        if entry is None or now - entry.started >= self.window:
            if len(self._windows) >= self.max_keys:
                self._evict(now)
            self._windows[key] = entry = _Window(started=now)
        entry.failures += 1

    def _evict(self, now: float) -> None:
        expired = [k for k, w in self._windows.items() if now - w.started >= self.window]
        for key in expired or list(self._windows)[: max(1, self.max_keys // 10)]:
            del self._windows[key]
