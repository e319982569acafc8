"""New entries on PostgreSQL through one unnest statement, read back through the models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.new_entries import new_entry
from tests.pg import PostgresServer
from timesheets import db
from timesheets.api import repository as repo
from timesheets.api.models import Base

NOW = datetime(2026, 11, 30, 5, 16, 36, 720645, tzinfo=UTC)


@pytest.fixture
async def engine(pg_server: PostgresServer) -> AsyncIterator[AsyncEngine]:
    """A fresh PostgreSQL database with the API's tables."""
    made = db.create_engine(pg_server.new_database())
    async with made.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield made
    await made.dispose()


def store(batch: list[repo.NewEntry]) -> Any:
    """The bulk insert as the writer runs it."""
    return lambda connection: repo.insert_many(connection, batch, lambda _type: 4000, NOW)


async def test_entries_and_their_created_events_read_back_as_written(
    engine: AsyncEngine,
) -> None:
    """Every column, NULLs and a week-only entry included, and one event per entry."""
    batch = [
        new_entry("ann"),
        new_entry("bob", entry_date=None, description=None, external_id=None),
        new_entry("cy", hundredths=25),
    ]
    async with engine.begin() as connection:
        written = await connection.run_sync(store(batch))

    def read(connection: Connection) -> list[tuple[dict[str, Any] | None, list[Any]]]:
        return [
            (repo.get_entry(connection, row["id"]), repo.audit_trail(connection, row["id"]))
            for row in written
        ]

    async with engine.connect() as connection:
        found = await connection.run_sync(read)
    assert [row for row, _trail in found] == written
    for row, trail in found:
        assert row is not None
        events = [(e["action"], e["subject"], e["client_id"], e["at"], e["detail"]) for e in trail]
        assert events == [("created", "importer@clients", "importer", NOW, {})]


async def test_an_over_long_value_is_refused_not_cut_short(engine: AsyncEngine) -> None:
    """A person id longer than its column fails the statement; nothing is stored."""
    with pytest.raises(DBAPIError, match="too long"):
        async with engine.begin() as connection:
            await connection.run_sync(store([new_entry("ann"), new_entry("x" * 101)]))
    async with engine.connect() as connection:
        counts = [
            await connection.scalar(select(func.count()).select_from(table))
            for table in (repo.entries, repo.audit)
        ]
    assert counts == [0, 0]
