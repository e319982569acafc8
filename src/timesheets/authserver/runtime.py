"""What one authorization-server process holds: its database, caches and throttles.

Caches are per process and short-lived (`client_cache_seconds`, `key_cache_seconds`).
Every change of the tenant raises a revision counter in the database in the change's own
transaction; each process reads that counter at most every `revision_check_seconds` and
drops all its caches when it moved, so a rotated secret, a disabled client or a rotated
key takes effect everywhere within that time, not at the end of a cache lifetime.
A refill is done by one request at a time (the others wait for it and use its result),
and a reload of the keys parses only keys it has not seen, so the hot path does not
stall when a cache expires under load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from timesheets import db
from timesheets.authserver import audit
from timesheets.authserver.admin import Conflict
from timesheets.authserver.key_lifetimes import cover_lifetime
from timesheets.authserver.keyring import KeyRing, ensure_keys, load_keyring, rotate_keys
from timesheets.authserver.models import Client, ResourceServer, TenantRevision
from timesheets.authserver.oauth.tenant import ApiView, ClientView
from timesheets.authserver.sealing import Sealer
from timesheets.authserver.shared_throttle import SharedThrottle
from timesheets.authserver.store import load_apis, load_client
from timesheets.settings import AuthServerSettings

DEFAULT_KEY_ALG = "RS256"


@dataclass
class Runtime:
    """The state of one process, shared by its requests."""

    settings: AuthServerSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[Any]
    sealer: Sealer
    throttle: SharedThrottle
    login_throttle: SharedThrottle
    audit: audit.AuditBuffer
    _clients: dict[str, tuple[float, ClientView | None]] = field(default_factory=dict)
    _apis: tuple[float, dict[str, ApiView]] | None = None
    _keyring: KeyRing | None = None
    _refill: asyncio.Lock = field(default_factory=asyncio.Lock)
    _origins: tuple[float, frozenset[str]] | None = None
    _revision: int | None = None
    _revision_checked: float = float("-inf")
    _revision_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def now(self) -> datetime:
        """Wall-clock time."""
        return datetime.now(UTC)

    def clock(self) -> float:
        """Wall-clock seconds, for throttling windows shared through the database."""
        return time.time()

    async def client(self, client_id: str) -> ClientView | None:
        """A client, from the cache while it is fresh."""
        if not (client_id.isascii() and client_id.isprintable()):
            # RFC 6749 A.1: client_id is VSCHAR (%x20-7E). Anything else names no client and
            # is not looked up (PostgreSQL text cannot hold NUL: the lookup would be a 500).
            return None
        await self.check_revision()
        clock = time.monotonic()
        cached = self._clients.get(client_id)
        if cached is not None and clock - cached[0] < self.settings.client_cache_seconds:
            return cached[1]
        async with self._refill:
            cached = self._clients.get(client_id)
            if cached is not None and cached[0] >= clock:
                return cached[1]  # refilled while this request waited
            async with self.sessions() as session:
                view = await load_client(session, client_id)
            if len(self._clients) > 10_000:
                self._clients.clear()
            self._clients[client_id] = (time.monotonic(), view)
        return view

    async def apis(self) -> dict[str, ApiView]:
        """Every API by identifier, from the cache while it is fresh."""
        await self.check_revision()
        clock = time.monotonic()
        if self._apis is not None and clock - self._apis[0] < self.settings.client_cache_seconds:
            return self._apis[1]
        async with self._refill:
            if self._apis is not None and self._apis[0] >= clock:
                return self._apis[1]
            async with self.sessions() as session:
                apis = await load_apis(session, self.sealer)
            self._apis = (time.monotonic(), apis)
        return apis

    async def keyring(self) -> KeyRing:
        """The signing keys, reloaded when older than `key_cache_seconds`."""
        await self.check_revision()
        clock = time.monotonic()
        ring = self._keyring
        if ring is not None and clock - ring.loaded_at < self.settings.key_cache_seconds:
            return ring
        async with self._refill:
            ring = self._keyring
            if ring is not None and ring.loaded_at >= clock:
                return ring
            async with self.sessions() as session:
                ring = await load_keyring(
                    session, self.sealer, self.now(), time.monotonic(), previous=ring
                )
            self._keyring = ring
        return ring

    async def web_origins(self) -> frozenset[str]:
        """Every web origin registered for any client (cached like clients)."""
        await self.check_revision()
        clock = time.monotonic()
        cached = self._origins
        if cached is not None and clock - cached[0] < self.settings.client_cache_seconds:
            return cached[1]
        async with self.sessions() as session:
            rows = (await session.scalars(select(Client.web_origins))).all()
        origins = frozenset(origin for row in rows for origin in row)
        self._origins = (clock, origins)
        return origins

    async def check_revision(self) -> None:
        """Drop every cache if the tenant changed since the last look (made at most every
        `revision_check_seconds`, by one request at a time)."""
        clock = time.monotonic()
        if clock - self._revision_checked < self.settings.revision_check_seconds:
            return
        async with self._revision_lock:
            if self._revision_checked >= clock:
                return
            async with self.sessions() as session:
                value = await audit.revision(session)
            self._revision_checked = time.monotonic()
            if value != self._revision:
                self.invalidate()
                self._revision = value

    @asynccontextmanager
    async def change(self, actor: str) -> AsyncIterator[AsyncSession]:
        """A session in one write transaction for a change of the tenant by `actor`,
        committed at the end of the block (a refusal raised in it rolls all back); this
        process drops its caches at once, the others at their next revision check."""
        try:
            with audit.acting_as(actor):
                async with self.sessions() as session, session.begin():
                    # Take SQLite's write lock up front, so concurrent changes wait, not fail.
                    await session.connection(execution_options={db.IMMEDIATE: True})
                    # PostgreSQL: lock the revision row up front, so concurrent changes run one
                    # after the other and a rule checked here (the last administrator) holds.
                    await session.execute(select(TenantRevision.value).with_for_update())
                    yield session
        except IntegrityError:
            # Another change made the same thing at the same moment (PostgreSQL).
            raise Conflict("this changed elsewhere at the same moment; read it again") from None
        self.invalidate()

    def invalidate(self) -> None:
        """Forget every cached client, API and key."""
        self._clients.clear()
        self._apis = None
        self._keyring = None
        self._origins = None

    async def prepare_keys(self) -> None:
        """Make sure every algorithm in use has a current and a published next key."""
        async with self.sessions() as session, session.begin():
            await session.connection(execution_options={db.IMMEDIATE: True})
            used = set((await session.scalars(select(ResourceServer.signing_alg))).all())
            algs = {alg for alg in used if alg != "HS256"} | {DEFAULT_KEY_ALG}
            await ensure_keys(session, self.sealer, algs, self.now())
            # ID tokens are signed with the RS256 keys for this long (a setting).
            await cover_lifetime(session, self.settings.id_token_seconds)
        self._keyring = None

    async def longest_token_lifetime(self) -> timedelta:
        """The longest lifetime of any access token or ID token, plus the margin: how long
        a demoted key stays published at least."""
        apis = await self.apis()
        lifetimes = [api.token_lifetime for api in apis.values()]
        seconds = max([*lifetimes, self.settings.id_token_seconds])
        return timedelta(seconds=seconds) + self.publish_margin()

    def publish_margin(self) -> timedelta:
        """How much longer than its tokens' lifetime a demoted key stays published."""
        return timedelta(seconds=self.settings.key_publish_margin_seconds)

    async def rotate_keys(
        self, session: AsyncSession, alg: str, publish_for: timedelta, *, force: bool
    ) -> tuple[str, str, str]:
        """Rotate `alg` in `session` by this server's settings: its next key must have
        been published for `key_min_published_seconds`, unless `force`."""
        min_published = 0 if force else self.settings.key_min_published_seconds
        return await rotate_keys(
            session,
            self.sealer,
            alg,
            self.now(),
            publish_for,
            self.publish_margin(),
            min_published=timedelta(seconds=min_published),
        )


def runtime_of(connection: HTTPConnection) -> Runtime:
    """The process state of the server answering a request."""
    runtime: Runtime = connection.app.state.runtime
    return runtime
