"""The SQLite settings of the services' engines and of the API's writer connection, the
PostgreSQL commit level, and which migrations a database still lacks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.test_pg_rows import head_revision
from tests.pg import PostgresServer
from timesheets import db
from timesheets.api.app import MIGRATIONS


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


async def test_pending_revisions_are_those_above_the_databases_newest_first(
    engine: AsyncEngine,
) -> None:
    fresh = await db.pending_revisions(engine, MIGRATIONS)
    assert (fresh[0], fresh[-1]) == (head_revision(), "0001")
    assert len(set(fresh)) == len(list((MIGRATIONS / "versions").glob("0*.py")))
    await db.upgrade(engine, MIGRATIONS, "0004")
    assert await db.pending_revisions(engine, MIGRATIONS) == fresh[: fresh.index("0004")]
    await db.upgrade(engine, MIGRATIONS)
    assert await db.pending_revisions(engine, MIGRATIONS) == []


async def test_a_revision_of_a_newer_release_leaves_nothing_pending(engine: AsyncEngine) -> None:
    """A newer release migrated the database during an upgrade: this one may serve it."""
    await db.upgrade(engine, MIGRATIONS)
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    assert await db.pending_revisions(engine, MIGRATIONS) == []


@pytest.mark.parametrize(
    ("level", "expected"),
    [("off", "on"), ("local", "local"), ("remote_apply", "remote_apply"), (None, "on")],
)
async def test_postgresql_commits_are_flushed_whatever_the_database_says(
    pg_server: PostgresServer,
    caplog: pytest.LogCaptureFixture,
    level: str | None,
    expected: str,
) -> None:
    """A database whose commits are acknowledged before they are flushed
    (`synchronous_commit=off`) gets `on` on every connection, logged once, and keeps it
    after a rollback; every other level, and the server's default, is left as it is."""
    url = pg_server.new_database()
    if level is not None:
        name = url.rsplit("/", 1)[1]
        pg_server.psql(f'ALTER DATABASE "{name}" SET synchronous_commit = {level}')
    engine = db.create_engine(url)
    found = []
    try:
        with caplog.at_level(logging.WARNING, logger="timesheets.db"):
            async with engine.connect() as first, engine.connect() as second:
                for connection in (first, second):
                    await connection.exec_driver_sql("SELECT 1")
                    await connection.rollback()
                    show = await connection.exec_driver_sql("SHOW synchronous_commit")
                    found.append(show.scalar())
    finally:
        await engine.dispose()
    assert found == [expected, expected]
    warnings = [r for r in caplog.records if "synchronous_commit" in r.getMessage()]
    assert len(warnings) == (1 if level == "off" else 0)
