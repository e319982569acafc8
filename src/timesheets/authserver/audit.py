"""The security audit log: changes of the tenant, and how clients and people authenticated.

Changes (APIs, clients, secrets, grants, users, roles, keys) are recorded in the same
transaction as the change itself, so the log holds exactly what was committed; each one
also raises the tenant revision, which tells every process to drop its caches
(see `Runtime.check_revision`). Events of the hot paths (tokens issued, failed client
authentication, logins) are buffered and written in batches a moment later by
`AuditBuffer`, so issuing a token does not wait for a database write. Tokens issued by
the client credentials grant, the one hot path (thousands a second), are tallied: one
event per client, audience and scope every `TALLY_SECONDS`, with their count and the
first and last time, so the token path costs the database nothing per token.

No event holds a secret: details carry names, ids, scopes and reasons only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from timesheets.authserver.models import SecurityEvent, TenantRevision
from timesheets.request_id import current_request_id

log = logging.getLogger("timesheets.authserver.audit")

SYSTEM = "system"
_actor: ContextVar[str] = ContextVar("audit_actor", default=SYSTEM)

PENDING_LIMIT = 10_000
FLUSH_DELAY = 0.25
TALLY_SECONDS = 5.0


def current_actor() -> str:
    """Who the changes made now are attributed to."""
    return _actor.get()


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Attribute the changes made inside the block to `actor` (`cli:alice`, `client:…`)."""
    token = _actor.set(actor[:200])
    try:
        yield
    finally:
        _actor.reset(token)


@dataclass(frozen=True)
class Event:
    """An event before it is stored."""

    kind: str
    subject: str
    outcome: str = "success"
    details: dict[str, Any] = field(default_factory=dict)
    address: str | None = None
    actor: str = field(default_factory=current_actor)
    request_id: str | None = field(default_factory=current_request_id.get)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def row(self) -> dict[str, Any]:
        """The event as a row of `security_events`."""
        return {
            "occurred_at": self.occurred_at,
            "kind": self.kind,
            "outcome": self.outcome,
            "actor": self.actor,
            "subject": self.subject[:200],
            "address": self.address,
            "request_id": self.request_id,
            "details": self.details,
        }


async def change(session: AsyncSession, kind: str, subject: str, **details: Any) -> None:
    """Record a change of the tenant in the caller's transaction and raise the revision."""
    session.add(SecurityEvent(**Event(kind, subject, details=details).row()))
    await session.execute(update(TenantRevision).values(value=TenantRevision.value + 1))


async def revision(session: AsyncSession) -> int:
    """The tenant revision: raised by every change."""
    return int(await session.scalar(select(TenantRevision.value)) or 0)


class AuditBuffer:
    """Events of the hot paths, written in batches shortly after they happen."""

    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions
        self._pending: list[dict[str, Any]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._tallies: dict[tuple[str, str, str, bytes], list[Any]] = {}
        self._tallying: asyncio.Task[None] | None = None
        self.dropped = 0

    def tally(self, kind: str, subject: str, actor: str, details: dict[str, Any]) -> None:
        """Count an event of a hot path; the count is written every `TALLY_SECONDS`."""
        now = datetime.now(UTC)
        key = (kind, subject, actor, orjson.dumps(details, option=orjson.OPT_SORT_KEYS))
        counted = self._tallies.get(key)
        if counted is None:
            self._tallies[key] = [1, now, now, details]
        else:
            counted[0] += 1
            counted[2] = now
        if self._tallying is None:
            self._tallying = asyncio.get_running_loop().create_task(self._tally_soon())

    async def _tally_soon(self) -> None:
        try:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TALLY_SECONDS)
            self._close_tallies()
            await self._write()
        finally:
            self._tallying = None
            if self._tallies:
                self._tallying = asyncio.get_running_loop().create_task(self._tally_soon())

    def _close_tallies(self) -> None:
        tallies, self._tallies = self._tallies, {}
        for (kind, subject, actor, _), (count, first, last, details) in tallies.items():
            event = Event(
                kind,
                subject,
                details=details | {"count": count, "first": _iso(first), "last": _iso(last)},
                actor=actor,
                request_id=None,
                occurred_at=last,
            )
            self._pending.append(event.row())

    def emit(self, event: Event) -> None:
        """Queue an event; it is written within `FLUSH_DELAY` seconds."""
        if len(self._pending) >= PENDING_LIMIT:
            self.dropped += 1
            return
        self._pending.append(event.row())
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        try:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_DELAY)
            self._wake.clear()
            await self._write()
        finally:
            self._flushing = None
            if self._pending:
                self._flushing = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _write(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            async with self._sessions() as session, session.begin():
                await session.execute(insert(SecurityEvent), batch)
        except Exception:
            log.exception("audit events not written", extra={"events": len(batch)})
            room = PENDING_LIMIT - len(self._pending)
            self.dropped += max(0, len(batch) - room)
            self._pending[:0] = batch[:room]

    async def flush(self) -> None:
        """Write what is queued and tallied now (at shutdown, and for tests)."""
        for task in (self._flushing, self._tallying):
            if task is not None:
                self._wake.set()
                await task
        self._close_tallies()
        await self._write()
        if self.dropped:
            log.warning("audit events dropped", extra={"events": self.dropped})


@dataclass(frozen=True)
class Filters:
    """Which events a query wants; all given conditions must hold."""

    kinds: Sequence[str] = ()
    actor: str | None = None
    subject: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def events(
    session: AsyncSession, filters: Filters, *, before_id: int | None = None, limit: int = 100
) -> list[SecurityEvent]:
    """Events matching `filters`, newest first, `limit` of them older than `before_id`."""
    stmt = select(SecurityEvent).order_by(SecurityEvent.id.desc()).limit(limit)
    if filters.kinds:
        stmt = stmt.where(SecurityEvent.kind.in_(filters.kinds))
    if filters.actor is not None:
        stmt = stmt.where(SecurityEvent.actor == filters.actor)
    if filters.subject is not None:
        stmt = stmt.where(SecurityEvent.subject == filters.subject)
    if filters.outcome is not None:
        stmt = stmt.where(SecurityEvent.outcome == filters.outcome)
    if filters.since is not None:
        stmt = stmt.where(SecurityEvent.occurred_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(SecurityEvent.occurred_at < filters.until)
    if before_id is not None:
        stmt = stmt.where(SecurityEvent.id < before_id)
    return list((await session.scalars(stmt)).all())


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def event_json(event: SecurityEvent) -> dict[str, Any]:
    """An event as JSON."""
    return {
        "id": event.id,
        "occurred_at": _iso(event.occurred_at),
        "kind": event.kind,
        "outcome": event.outcome,
        "actor": event.actor,
        "subject": event.subject,
        "address": event.address,
        "request_id": event.request_id,
        "details": event.details,
    }
