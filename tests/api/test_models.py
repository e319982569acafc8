"""The API's migrations make exactly the schema its models declare."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tests.api.new_entries import new_entry
from timesheets import db
from timesheets.api import repository as repo
from timesheets.api.app import MIGRATIONS
from timesheets.api.models import Base, Entry

NAME = "uq_entries_external"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


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


def _definitions(connection: Connection) -> dict[str, str]:
    """The entries table's indexes as made, by name (on SQLite, but a table constraint's,
    which has no definition of its own)."""
    if connection.dialect.name == "postgresql":
        sql = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'entries'"
    else:
        sql = (
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'index' AND tbl_name = 'entries' AND sql IS NOT NULL"
        )
    return {name: definition for name, definition in connection.execute(text(sql)).all()}


def _migrate(connection: Connection, to: str) -> None:
    config = db._alembic_config(MIGRATIONS, connection)
    if to == "head":
        command.upgrade(config, to)
    else:
        command.downgrade(config, to)


#: The entries' columns before migration 0008 added `user_name`.
BEFORE_0008 = ", ".join(c.name for c in Entry.__table__.columns if c.name != "user_name")


def _rows(connection: Connection, columns: str = BEFORE_0008) -> list[Any]:
    sql = f"SELECT {columns} FROM entries ORDER BY id"  # noqa: S608 (the model's names)
    return list(connection.execute(text(sql)).all())


def _insert_before_0008(connection: Connection, entry: repo.NewEntry) -> None:
    """`entry` stored with the columns every revision since 0001 has."""
    row = {**entry.__dict__, "id": repo.new_id(), "status": "submitted"}
    row |= {"created_at": NOW, "updated_at": NOW}
    names = [name for name in BEFORE_0008.split(", ") if name in row]
    values = ", ".join(f":{name}" for name in names)
    sql = f"INSERT INTO entries ({', '.join(names)}) VALUES ({values})"  # noqa: S608 (as above)
    connection.execute(text(sql), {name: row[name] for name in names})


def _stores_twice(connection: Connection, entry: repo.NewEntry) -> bool:
    """Whether `entry` can be stored again beside the same entry (undone either way)."""
    try:
        with connection.begin_nested() as savepoint:
            _insert_before_0008(connection, entry)
            savepoint.rollback()
    except IntegrityError:
        return False
    return True


async def test_migration_0007_indexes_only_the_entries_that_have_an_external_id(
    database_url: str,
) -> None:
    """An external id stays unique per uploader both ways; entries without one (two of
    the same uploader here) are kept out of the index at head, and the table's rows and
    other indexes come through the change unchanged."""
    uploaded = new_entry("ann")
    engine = db.create_engine(database_url)
    try:
        await db.upgrade(engine, MIGRATIONS)
        async with engine.begin() as connection:
            batch = [
                uploaded,
                new_entry("bob", external_id=None),
                new_entry("cy", external_id=None),
            ]
            await connection.run_sync(repo.insert_many, batch, lambda _type: 168 * 100, NOW)
            rows = await connection.run_sync(_rows)
            upgraded = await connection.run_sync(_definitions)
            refused_at_head = not await connection.run_sync(_stores_twice, uploaded)
            await connection.run_sync(_migrate, "0006")
            downgraded = await connection.run_sync(_definitions)
            refused_before = not await connection.run_sync(_stores_twice, uploaded)
            rows_before = await connection.run_sync(_rows)
            await connection.run_sync(_migrate, "head")
            again = await connection.run_sync(_definitions)
            rows_again = await connection.run_sync(_rows)
    finally:
        await engine.dispose()
    assert len(rows) == 3
    assert refused_at_head
    assert refused_before
    assert rows_before == rows
    assert rows_again == rows
    made = _bare(upgraded.pop(NAME))
    assert "unique index" in made, made
    assert made.endswith("where external_id is not null"), made
    assert "where" not in _bare(downgraded.pop(NAME, "")), downgraded
    again.pop(NAME)
    assert upgraded == downgraded == again


def _columns(connection: Connection) -> list[str]:
    if connection.dialect.name == "postgresql":
        sql = (
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'entries' ORDER BY ordinal_position"
        )
    else:
        sql = "SELECT name FROM pragma_table_info('entries') ORDER BY cid"
    return [name for (name,) in connection.execute(text(sql)).all()]


async def test_migration_0008_adds_the_owners_name_and_keeps_every_row(database_url: str) -> None:
    """Rows stored before 0008 come through with no name; at head a name is stored;
    down and up again keep the rows (less the names) and the indexes."""
    engine = db.create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_migrate_from_scratch, "0007")
            before = await connection.run_sync(_definitions)
            await connection.run_sync(_insert_before_0008, new_entry("ann"))
            await connection.run_sync(_migrate, "head")
            columns = await connection.run_sync(_columns)
            named = new_entry("bob", user_name="Bob Jones")
            await connection.run_sync(repo.insert_many, [named], lambda _type: 168 * 100, NOW)
            names = await connection.run_sync(_rows, "user_id, user_name")
            rows = await connection.run_sync(_rows)
            upgraded = await connection.run_sync(_definitions)
            await connection.run_sync(_migrate, "0007")
            downgraded_columns = await connection.run_sync(_columns)
            rows_down = await connection.run_sync(_rows)
            downgraded = await connection.run_sync(_definitions)
            await connection.run_sync(_migrate, "head")
            rows_again = await connection.run_sync(_rows)
    finally:
        await engine.dispose()
    assert columns[-1] == "user_name"
    assert "user_name" not in downgraded_columns
    assert sorted(names) == [("ann", None), ("bob", "Bob Jones")]
    assert len(rows) == 2
    assert rows_down == rows == rows_again
    assert before == upgraded == downgraded


def _migrate_from_scratch(connection: Connection, to: str) -> None:
    command.upgrade(db._alembic_config(MIGRATIONS, connection), to)
