"""Database engines and migrations shared by the services.

SQLite runs in WAL mode with a configurable `synchronous` level; PostgreSQL through asyncpg,
its commits flushed to disk before they are acknowledged whatever the server's default.
Migrations are Alembic's, applied from a package of revisions with no alembic.ini.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_only

log = logging.getLogger("timesheets.db")

#: Execution option: on SQLite, begin the transaction with the write lock held.
IMMEDIATE = "timesheets_immediate"


def is_sqlite(url: str) -> bool:
    """Whether a URL names a SQLite database."""
    return url.startswith("sqlite")


#: Execution option recording an async SQLite engine's `synchronous` level.
SYNCHRONOUS = "timesheets_synchronous"


def create_engine(url: str, *, synchronous: str = "FULL", pool_size: int = 10) -> AsyncEngine:
    """An async engine; SQLite files get WAL, a busy timeout and foreign keys."""
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            poolclass=NullPool if ":memory:" in url else None,
            execution_options={SYNCHRONOUS: synchronous},
        )
        _configure_sqlite(engine.sync_engine, synchronous)
        return engine
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )
    _configure_postgresql(engine.sync_engine)
    return engine


def create_sync_sqlite_engine(engine: AsyncEngine) -> Engine:
    """A synchronous engine (the standard sqlite3 driver) on an async engine's SQLite file."""
    synchronous = engine.get_execution_options().get(SYNCHRONOUS, "FULL")
    sync = sa_create_engine(engine.url.set(drivername="sqlite+pysqlite"), pool_size=1)
    _configure_sqlite(sync, synchronous)

    @event.listens_for(sync, "connect")
    def _writer_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The writer inserts into many indexes at scattered places: a 64 MiB page cache
        # (2 MiB by default) keeps their pages at hand, and a checkpoint every 10,000 WAL
        # pages (1,000 by default) copies a page changed by several commits once.
        # Measured on the import benchmark: 0.23 -> 0.25 x the raw insert rate (three
        # interleaved runs each).
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.close()

    return sync


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not open transactions itself: `_begin` below does, so that a
        # writer can take SQLite's write lock up front (BEGIN IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _configure_postgresql(engine: Engine) -> None:
    warned: list[bool] = []

    @event.listens_for(engine, "connect")
    def _durable_commits(dbapi_connection: Any, _record: Any) -> None:
        # A service answers a write only after its commit: with `synchronous_commit=off`
        # (set for the server, the database or the role) PostgreSQL acknowledges a commit
        # before its WAL reaches the disk, and a crash loses acknowledged entries. Every
        # other level flushes at least locally, so it is kept (`remote_apply` included).
        # Asked on the driver's own connection, outside any transaction, so the SET is
        # never rolled back with one.
        driver = dbapi_connection.driver_connection
        if await_only(driver.fetchval("SHOW synchronous_commit")) == "off":
            await_only(driver.execute("SET synchronous_commit TO on"))
            if warned:
                return
            warned.append(True)
            log.warning(
                "synchronous_commit is off for this database; "
                "the service's connections set it on, so that no acknowledged write is lost"
            )


async def reachable(engine: AsyncEngine) -> bool:
    """Whether the database answers a trivial query (logged when it does not)."""
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")
    except (OSError, SQLAlchemyError) as error:
        log.warning("database unreachable", extra={"reason": str(error)})
        return False
    return True


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _alembic_config(script_location: Path, connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, script_location: Path, revision: str = "head") -> None:
    """Apply pending migrations from `script_location` up to `revision`."""

    def run(connection: Connection) -> None:
        command.upgrade(_alembic_config(script_location, connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)


class NotMigrated(Exception):
    """A database lacks revisions this release needs, and migrations on start are off."""

    def __init__(self, pending: list[str]) -> None:
        super().__init__(f"pending migrations: {', '.join(pending)}")
        self.pending = pending


async def require_migrated(engine: AsyncEngine, script_location: Path) -> None:
    """Raise `NotMigrated` unless the database has every revision in `script_location`."""
    pending = await pending_revisions(engine, script_location)
    if pending:
        raise NotMigrated(pending)


async def pending_revisions(engine: AsyncEngine, script_location: Path) -> list[str]:
    """The revisions in `script_location` the database has not applied, newest first.

    Empty when the database is at head, or at a revision not found there (a newer
    release's: revisions are additive, so this release may still serve it).
    """
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionError

    current = await current_revision(engine)
    script = ScriptDirectory(str(script_location))
    try:
        return [
            revision.revision for revision in script.iterate_revisions("heads", current or "base")
        ]
    except RevisionError:
        return []


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
