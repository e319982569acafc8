"""The repository's list on SQLite and PostgreSQL and the indexes it reads."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from timesheets import db
from timesheets.api.app import MIGRATIONS


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The API's migrated schema, on SQLite and on PostgreSQL."""
    made = db.create_engine(database_url)
    await db.upgrade(made, MIGRATIONS)
    yield made
    await made.dispose()


async def test_migration_0004_adds_and_removes_the_week_level_index(engine: AsyncEngine) -> None:
    """Only entries without a date are in it; the downgrade drops it, and it comes back."""

    def indexes(connection: Connection) -> dict[str, str]:
        if connection.dialect.name == "postgresql":
            sql = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'entries'"
        else:
            sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        return {name: definition for name, definition in connection.execute(text(sql)).all()}

    def migrate(connection: Connection, to: str) -> dict[str, str]:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        if to == "head":
            command.upgrade(config, to)
        else:
            command.downgrade(config, to)
        return indexes(connection)

    async with engine.begin() as connection:
        upgraded = await connection.run_sync(indexes)
        downgraded = await connection.run_sync(migrate, "0003")
        again = await connection.run_sync(migrate, "head")
    definition = upgraded["ix_entries_undated_week"]
    keyed = r"\(entry_date, iso_year, iso_week\) WHERE \(?entry_date IS NULL\)?$"
    assert re.search(keyed, definition)
    assert set(upgraded) - set(downgraded) == {"ix_entries_undated_week"}
    assert again == upgraded
