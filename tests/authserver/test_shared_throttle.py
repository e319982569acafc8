"""Failure throttling shared through the database by two instances of the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.authserver.conftest import Tenant
from timesheets import db
from timesheets.authserver.models import FailureWindow
from timesheets.authserver.shared_throttle import SharedThrottle, stored_key

LIMIT, WINDOW = 3, 60.0
NOW = 1_800_000_000.0


@pytest.fixture
async def instances(tenant: Tenant) -> AsyncIterator[tuple[SharedThrottle, SharedThrottle]]:
    """Two throttles on separate engines over one database, as two processes have."""
    other = db.create_engine(tenant.runtime.settings.database_url)
    one = SharedThrottle(tenant.runtime.sessions, "client", limit=LIMIT, window=WINDOW)
    two = SharedThrottle(db.session_factory(other), "client", limit=LIMIT, window=WINDOW)
    yield one, two
    await other.dispose()


async def stored(tenant: Tenant, key: str) -> tuple[float, int] | None:
    async with tenant.runtime.sessions() as session:
        row = (
            await session.execute(
                select(FailureWindow.started, FailureWindow.failures).where(
                    FailureWindow.key == key
                )
            )
        ).first()
    return None if row is None else (row[0], row[1])


async def test_failures_through_one_instance_lock_the_key_at_the_other(
    instances: tuple[SharedThrottle, SharedThrottle],
) -> None:
    one, two = instances
    for _ in range(LIMIT - 1):
        await one.record_failure("client:abc", NOW)
    assert await two.retry_after("client:abc", NOW + 1) == 0
    await one.record_failure("client:abc", NOW + 2)
    # `two` remembered the key as clear a moment ago; after `clear_seconds` it sees the lock.
    assert await two.retry_after("client:abc", NOW + 1.5) == 0
    assert await two.retry_after("client:abc", NOW + 2.5) == 58
    assert await one.retry_after("client:abc", NOW + 2.5) == 58
    assert await two.retry_after("client:other", NOW + 2.5) == 0


async def test_a_window_ends_and_the_next_failure_starts_a_new_one(
    tenant: Tenant, instances: tuple[SharedThrottle, SharedThrottle]
) -> None:
    one, two = instances
    for _ in range(LIMIT):
        await one.record_failure("address:10.0.0.7", NOW)
    assert await two.retry_after("address:10.0.0.7", NOW + WINDOW - 1) == 1
    assert await two.retry_after("address:10.0.0.7", NOW + WINDOW) == 0
    await two.record_failure("address:10.0.0.7", NOW + WINDOW + 5)
    assert await stored(tenant, "address:10.0.0.7") == (NOW + WINDOW + 5, 1)


async def test_concurrent_failures_from_both_instances_all_count(
    tenant: Tenant, instances: tuple[SharedThrottle, SharedThrottle]
) -> None:
    one, two = instances
    await asyncio.gather(
        *[(one if n % 2 else two).record_failure("client:busy", NOW) for n in range(20)]
    )
    assert await stored(tenant, "client:busy") == (NOW, 20)


async def test_scopes_do_not_share_counts(tenant: Tenant) -> None:
    clients = SharedThrottle(tenant.runtime.sessions, "client", limit=1, window=WINDOW)
    logins = SharedThrottle(tenant.runtime.sessions, "login", limit=1, window=WINDOW)
    await clients.record_failure("address:10.0.0.8", NOW)
    assert await clients.retry_after("address:10.0.0.8", NOW) == 60
    assert await logins.retry_after("address:10.0.0.8", NOW) == 0


async def test_ended_windows_are_forgotten_and_live_ones_kept(
    tenant: Tenant, instances: tuple[SharedThrottle, SharedThrottle]
) -> None:
    one, _two = instances
    await one.record_failure("client:old", NOW)
    await one.record_failure("client:new", NOW + WINDOW)
    await one.forget_expired(NOW + WINDOW + 1)
    async with tenant.runtime.sessions() as session:
        keys = set((await session.scalars(select(FailureWindow.key))).all())
        count = await session.scalar(select(func.count()).select_from(FailureWindow))
    assert keys == {"client:new"}
    assert count == 1


@pytest.mark.parametrize("key", ["client:a\x00b", "login:" + "é" * 10, "address:" + "x" * 400])
async def test_keys_a_database_cannot_hold_are_stored_as_digests(
    tenant: Tenant, instances: tuple[SharedThrottle, SharedThrottle], key: str
) -> None:
    one, two = instances
    for _ in range(LIMIT):
        await one.record_failure(key, NOW)
    assert await two.retry_after(key, NOW + 1) == 59
    assert await stored(tenant, stored_key(key)) == (NOW, LIMIT)
    assert stored_key(key).startswith("sha256:")


async def test_requests_in_flight_share_one_lookup_per_key(tenant: Tenant) -> None:
    opened = 0
    sessions = tenant.runtime.sessions

    def counting() -> Any:
        nonlocal opened
        opened += 1
        return sessions()

    throttle = SharedThrottle(counting, "client", limit=LIMIT, window=WINDOW)  # type: ignore[arg-type]
    for _ in range(LIMIT):
        await throttle.record_failure("client:locked", NOW)
    opened = 0
    waits = await asyncio.gather(
        *(throttle.retry_after("client:locked", NOW) for _ in range(20)),
        *(throttle.retry_after("client:clear", NOW) for _ in range(20)),
    )
    assert waits[:20] == [60] * 20
    assert waits[20:] == [0] * 20
    assert opened == 2  # one lookup per key
    assert await throttle.retry_after("client:clear", NOW + 0.5) == 0
    assert opened == 2  # found clear: remembered for a second
