"""The API's migrations make exactly the schema its models declare."""

from __future__ import annotations

import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index, text
from sqlalchemy.engine import Connection

from timesheets import db
from timesheets.api.app import MIGRATIONS
from timesheets.api.models import Base


def differences(connection: Connection) -> list[Any]:
    """What autogenerate would change to make the database match the models (tables,
    columns, types, defaults, constraints, indexes and their columns)."""
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _bare(sql: str) -> str:
    return re.sub(r"[\s()]+", " ", sql).strip().lower()


def partial_indexes(connection: Connection) -> dict[str, tuple[str, str]]:
    """Each partial index of the models: (its declared predicate, its definition as made).

    Autogenerate does not compare predicates, so a migration that left one out would
    pass `differences`."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        sql = "SELECT indexname, indexdef FROM pg_indexes"
    else:
        sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    made = {name: definition for name, definition in connection.execute(text(sql)).all()}
    found = {}
    for table in Base.metadata.tables.values():
        for index in table.indexes:
            assert isinstance(index, Index)
            where = index.dialect_options[dialect].get("where")
            if where is not None:
                found[str(index.name)] = (_bare(str(where)), _bare(made.get(str(index.name), "")))
    return found


async def test_the_migrated_schema_is_the_models(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        await db.upgrade(engine, MIGRATIONS)
        async with engine.connect() as connection:
            found = await connection.run_sync(differences)
            partial = await connection.run_sync(partial_indexes)
    finally:
        await engine.dispose()
    assert found == []
    assert partial, "the models declare a partial index"
    for name, (declared, made) in partial.items():
        assert made.endswith(f"where {declared}"), (name, declared, made)
