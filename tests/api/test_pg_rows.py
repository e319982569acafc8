"""New entries on PostgreSQL through one unnest statement, read back through the models."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.new_entries import new_entry
from tests.pg import PostgresServer
from timesheets import db
from timesheets.api import pg_rows
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


def locked_then(statement: str, params: dict[str, Any]) -> Any:
    """The writer's order: the people's locks through SQLAlchemy open the transaction,
    then a statement goes to the driver."""

    def run(connection: Connection) -> Any:
        repo._lock_people(connection, ["ann"])
        return pg_rows.fetch(connection, text(statement), params)

    return run


async def test_a_duplicate_key_sent_to_the_driver_is_sqlalchemys_integrity_error(
    engine: AsyncEngine,
) -> None:
    """The writer runs a batch again on IntegrityError: the driver's error must be one."""
    async with engine.begin() as connection:
        [row] = await connection.run_sync(store([new_entry("ann")]))
    duplicate = locked_then("INSERT INTO entries SELECT * FROM entries WHERE id = :id", row)
    async with engine.connect() as connection:
        with pytest.raises(IntegrityError, match="duplicate key"):
            await connection.run_sync(duplicate)


async def test_a_statement_the_server_refuses_is_a_plain_dbapi_error(engine: AsyncEngine) -> None:
    """Neither a lost connection nor a unique-key race: the writer answers 503 for it."""
    async with engine.connect() as connection:
        with pytest.raises(DBAPIError, match="no_such_table") as raised:
            await connection.run_sync(locked_then("SELECT * FROM no_such_table", {}))
    assert type(raised.value) is DBAPIError


async def test_a_connection_lost_during_a_statement_is_an_operational_error(
    engine: AsyncEngine,
) -> None:
    connection = await engine.connect()
    try:
        with pytest.raises(OperationalError):
            await connection.run_sync(
                locked_then("SELECT pg_terminate_backend(pg_backend_pid())", {})
            )
    finally:
        with contextlib.suppress(DBAPIError):
            await connection.invalidate()
            await connection.close()


def outcome(result: object) -> str:
    """A bulk insert's result for one entry: "stored" or the rule that refused it."""
    return str(result) if isinstance(result, repo.RuleViolation) else "stored"


async def test_the_day_cap_counts_what_earlier_batches_stored_on_that_day(
    engine: AsyncEngine,
) -> None:
    """The day totals come from the week statement: hours stored earlier that day count,
    the week's hours without a day and rejected hours do not, and a day at an ISO
    year's edge (2024-12-30 is in 2025-W01) is found through its week."""
    edge = {"iso_year": 2025, "iso_week": 1, "entry_date": date(2024, 12, 30)}
    async with engine.begin() as connection:
        first = await connection.run_sync(
            store(
                [
                    new_entry("ann", 2000, external_id="a1"),  # 20 h on 2026-11-30
                    new_entry("ann", 300, entry_date=None, external_id="a2"),  # that week
                    new_entry("bob", 2000, external_id="b1", **edge),
                    new_entry("cy", 2400, external_id="c1"),
                ]
            )
        )
        await connection.execute(
            text("UPDATE entries SET status = 'rejected' WHERE id = :id"), {"id": first[3]["id"]}
        )
    async with engine.begin() as connection:
        second = await connection.run_sync(
            store(
                [
                    new_entry("ann", 401, external_id="a3"),
                    new_entry("ann", 400, external_id="a4"),
                    new_entry("bob", 401, external_id="b2", **edge),
                    new_entry("bob", 400, external_id="b3", **edge),
                    new_entry("cy", 2400, external_id="c2"),
                ]
            )
        )
    assert [outcome(result) for result in second] == [
        "more than 24 hours on 2026-11-30",
        "stored",
        "more than 24 hours on 2024-12-30",
        "stored",
        "stored",
    ]


async def test_the_day_cap_holds_past_the_first_300_weeks_of_a_batch(engine: AsyncEngine) -> None:
    """More than 300 (person, week) keys are summed in chunks: a day in the second
    chunk still counts what is stored."""
    async with engine.begin() as connection:
        await connection.run_sync(store([new_entry("ann", 2000, external_id="a1")]))
    weeks = []
    for n in range(300):  # "aaa" sorts before "ann": these fill the first chunk
        day = date(2018, 12, 31) + timedelta(weeks=n)
        year, week, _ = day.isocalendar()
        weeks.append(
            new_entry("aaa", 100, iso_year=year, iso_week=week, entry_date=day, external_id=f"w{n}")
        )
    async with engine.begin() as connection:
        results = await connection.run_sync(
            store([*weeks, new_entry("ann", 401, external_id="a2")])
        )
    assert [outcome(result) for result in results] == ["stored"] * 300 + [
        "more than 24 hours on 2026-11-30"
    ]


async def test_a_statement_for_the_driver_needs_an_open_transaction(engine: AsyncEngine) -> None:
    """Outside the writer's transaction a statement would commit on its own: refused."""
    async with engine.connect() as connection:
        with pytest.raises(RuntimeError, match="transaction"):
            await connection.run_sync(lambda sync: pg_rows.fetch(sync, text("SELECT 1"), {}))


async def test_a_lost_connection_is_an_operational_error(engine: AsyncEngine) -> None:
    """The writer answers 503 and takes a fresh connection after an OperationalError."""
    connection = await engine.connect()
    try:
        await connection.run_sync(lambda sync: repo._lock_people(sync, ["ann"]))
        pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        async with engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(OperationalError):
            await connection.run_sync(lambda sync: pg_rows.fetch(sync, text("SELECT 1"), {}))
    finally:
        # As the writer drops a connection it lost: its rollback can only fail.
        with contextlib.suppress(DBAPIError):
            await connection.invalidate()
            await connection.close()
