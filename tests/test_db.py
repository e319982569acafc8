"""The SQLite settings of the services' engines and of the API's writer connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from timesheets import db


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An async engine on a SQLite file, as the services make it."""
    made = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    yield made
    await made.dispose()


def pragmas(connection: Connection, names: tuple[str, ...]) -> dict[str, object]:
    """The values of `names` on a synchronous SQLAlchemy connection."""
    return {name: connection.execute(text(f"PRAGMA {name}")).scalar() for name in names}


NAMES = ("journal_mode", "synchronous", "busy_timeout", "cache_size", "wal_autocheckpoint")


async def test_the_writer_connection_keeps_more_pages_and_checkpoints_less(
    engine: AsyncEngine,
) -> None:
    """WAL and a full sync on every commit, as everywhere; a larger cache and rarer
    checkpoints only for the writer."""
    writer = db.create_sync_sqlite_engine(engine)
    try:
        with writer.connect() as connection:
            found = pragmas(connection, NAMES)
    finally:
        writer.dispose()
    assert found == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL
        "busy_timeout": 10000,
        "cache_size": -65536,
        "wal_autocheckpoint": 10000,
    }


async def test_other_connections_keep_sqlite_defaults_for_cache_and_checkpoints(
    engine: AsyncEngine,
) -> None:
    """The services' own pools are not given the writer's larger cache."""
    async with engine.connect() as connection:
        found = await connection.run_sync(lambda sync: pragmas(sync, NAMES))
    assert found == {
        "journal_mode": "wal",
        "synchronous": 2,
        "busy_timeout": 10000,
        "cache_size": -2000,
        "wal_autocheckpoint": 1000,
    }
