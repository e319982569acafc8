"""Failure throttling shared by every instance of the server, through its database.

Failures are counted in `failure_windows` (one row per scope and key, fixed windows on
the wall clock), so a client or an account locked through one instance is locked at all
of them. Successful requests must not pay a query each: a key found without a lock is
remembered as clear for `clear_seconds` (1 s by default), so a lock reached through
another instance applies here within that time, and a lock reached here at once. When
that memory runs out under load, one request looks the key up and the others in flight
wait for its answer (one query per key, not one per request).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from timesheets.authserver.models import FailureWindow
from timesheets.authserver.oauth.throttle import wait_seconds

# Every expression of SET reads the row as it was: both CASEs see the old `started`.
_RECORD = text(
    "INSERT INTO failure_windows (scope, key, started, failures) "
    "VALUES (:scope, :key, :now, 1) "
    "ON CONFLICT (scope, key) DO UPDATE SET "
    "failures = CASE WHEN :now - failure_windows.started >= :window THEN 1 "
    "ELSE failure_windows.failures + 1 END, "
    "started = CASE WHEN :now - failure_windows.started >= :window THEN :now "
    "ELSE failure_windows.started END"
)


def stored_key(key: str) -> str:
    """The key as stored: as given when it is short printable ASCII, else its digest (a
    client id or email from a request may hold anything, NUL included, which PostgreSQL
    text refuses)."""
    if len(key) <= 300 and key.isascii() and key.isprintable():
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class SharedThrottle:
    """Counts failures per key within `window` seconds and locks at `limit`."""

    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        scope: str,
        *,
        limit: int,
        window: float,
        clear_seconds: float = 1.0,
        max_clear: int = 100_000,
    ) -> None:
        self.sessions = sessions
        self.scope = scope
        self.limit = limit
        self.window = window
        self.clear_seconds = clear_seconds
        self.max_clear = max_clear
        self._clear: dict[str, float] = {}
        self._looking: dict[str, asyncio.Future[int]] = {}
        self._records = 0

    async def retry_after(self, key: str, now: float) -> int:
        """Seconds the key must still wait, 0 when it may try."""
        key = stored_key(key)
        checked = self._clear.get(key)
        if checked is not None and now - checked < self.clear_seconds:
            return 0
        pending = self._looking.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._looking[key] = answer
        try:
            wait = await self._look_up(key, now)
        except BaseException as error:
            answer.set_exception(error)
            answer.exception()  # retrieved: a lookup nobody else waited for is not an orphan
            raise
        finally:
            del self._looking[key]
        answer.set_result(wait)
        return wait

    async def _look_up(self, key: str, now: float) -> int:
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(FailureWindow.started, FailureWindow.failures).where(
                        FailureWindow.scope == self.scope, FailureWindow.key == key
                    )
                )
            ).first()
        wait = 0 if row is None else wait_seconds(row[0], row[1], now, self.limit, self.window)
        if wait == 0:
            if len(self._clear) >= self.max_clear:
                self._clear.clear()
            self._clear[key] = now
        return wait

    async def record_failure(self, key: str, now: float) -> None:
        """Count one failure for the key, in the shared table."""
        key = stored_key(key)
        self._clear.pop(key, None)
        params = {"scope": self.scope, "key": key, "now": now, "window": self.window}
        async with self.sessions() as session, session.begin():
            await session.execute(_RECORD, params)
        self._records += 1
        if self._records % 500 == 0:
            await self.forget_expired(now)

    async def forget_expired(self, now: float) -> None:
        """Delete windows that ended (they hold no lock any more)."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                delete(FailureWindow).where(
                    FailureWindow.scope == self.scope, FailureWindow.started < now - self.window
                )
            )
