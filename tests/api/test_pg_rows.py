"""New entries on PostgreSQL through one unnest statement, read back through the models."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.new_entries import new_entry
from tests.pg import PostgresServer, until_someone_waits_for_a_lock
from timesheets import db
from timesheets.api import pg_rows
from timesheets.api import repository as repo
from timesheets.api.app import MIGRATIONS
from timesheets.api.domain import caps
from timesheets.api.models import Base
from timesheets.api.writer import OutcomeUnknown

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
    """Every column, NULLs, a week-only entry and an owner's name included, and one event
    per entry."""
    batch = [
        new_entry("ann"),
        new_entry("bob", entry_date=None, description=None, external_id=None),
        new_entry("cy", hundredths=25, user_name="Cy Young"),
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


# The one-statement insert (migration 0005's function), on a database migrated to head.

WEEK = ("ann", 2026, 49)
MONDAY, TUESDAY = date(2026, 11, 30), date(2026, 12, 1)
DAY = (*WEEK, MONDAY)


def room_of(batch: list[repo.NewEntry]) -> caps.Room:
    """The room `batch` leaves under a 40-hour week."""
    room = caps.room_for(repo._hours(entry, lambda _type: 4000) for entry in batch)
    assert room is not None
    return room


async def within_caps(raw: asyncpg.Connection, batch: list[repo.NewEntry], room: caps.Room) -> bool:
    """The one-statement insert of `batch` with the given room."""
    return await pg_rows.insert_within_caps(raw, [repo._new_row(e, NOW) for e in batch], room)


async def seed(engine: AsyncEngine, batch: list[repo.NewEntry], *, rejected: bool = False) -> None:
    """Store `batch` through the writer's transaction, the week cap out of the way
    (rejected afterwards when asked)."""
    async with engine.begin() as connection:
        rows = await connection.run_sync(
            lambda sync: repo.insert_many(sync, batch, lambda _type: 10**6, NOW)
        )
        assert not [row for row in rows if isinstance(row, repo.RuleViolation)]
        for row in rows if rejected else []:
            await connection.execute(
                text("UPDATE entries SET status = 'rejected' WHERE id = :id"), {"id": row["id"]}
            )


async def stored_counts(engine: AsyncEngine) -> list[int]:
    """How many entries and audit events are committed."""
    async with engine.connect() as connection:
        return [
            await connection.scalar(select(func.count()).select_from(table))
            for table in (repo.entries, repo.audit)
        ]


async def test_a_batch_that_fits_is_stored_by_one_statement_outside_any_transaction(
    migrated: AsyncEngine, raw: asyncpg.Connection
) -> None:
    """Every column (an owner's name included) reads back as written, with one "created"
    event each, committed."""
    batch = [
        new_entry("ann"),
        new_entry("bob", entry_date=None, description=None, external_id=None),
        new_entry("cy", 25, user_name="Cy Young"),
    ]
    rows = [repo._new_row(entry, NOW) for entry in batch]
    assert await pg_rows.insert_within_caps(raw, rows, room_of(batch)) is True
    assert not raw.is_in_transaction()

    def read(connection: Connection) -> list[tuple[dict[str, Any] | None, list[Any]]]:
        return [
            (repo.get_entry(connection, row["id"]), repo.audit_trail(connection, row["id"]))
            for row in rows
        ]

    async with migrated.connect() as connection:  # another connection: committed
        found = await connection.run_sync(read)
    assert [row for row, _trail in found] == rows
    for _row, trail in found:
        events = [(e["action"], e["subject"], e["client_id"], e["at"], e["detail"]) for e in trail]
        assert events == [("created", "importer@clients", "importer", NOW, {})]


async def test_an_over_long_value_is_refused_by_the_one_statement_insert(
    migrated: AsyncEngine, raw: asyncpg.Connection
) -> None:
    """The JSON rows are read into the table's types: refused, not cut short."""
    batch = [new_entry("ann"), new_entry("x" * 101)]
    with pytest.raises(DBAPIError, match="too long"):
        await within_caps(raw, batch, room_of(batch))
    assert not raw.is_in_transaction()
    assert await stored_counts(migrated) == [0, 0]


async def test_a_value_json_cannot_carry_declines_the_one_statement_insert(
    migrated: AsyncEngine, raw: asyncpg.Connection
) -> None:
    """A lone surrogate (a subject from a token may hold one) is left to the transaction."""
    batch = [new_entry("ann"), new_entry("bob\udc80")]
    assert await within_caps(raw, batch, room_of(batch)) is False
    assert not raw.is_in_transaction()
    assert await stored_counts(migrated) == [0, 0]


async def test_a_week_at_its_room_is_accepted_and_one_hundredth_over_is_refused(
    migrated: AsyncEngine, raw: asyncpg.Connection
) -> None:
    """Only the person's own ISO week counts; over the room nothing is stored."""
    await seed(
        migrated,
        [
            new_entry("ann", 1000, entry_date=None, external_id=None),
            new_entry("ann", 3000, iso_year=2025, entry_date=None, external_id=None),
            new_entry("ann", 3000, iso_week=48, entry_date=None, external_id=None),
            new_entry("bob", 3000, entry_date=None, external_id=None),
        ],
    )
    one = [new_entry("ann", 100, entry_date=None, external_id=None)]
    assert await within_caps(raw, one, caps.Room({WEEK: 1000}, {})) is True
    before = await stored_counts(migrated)  # ann's week now holds 1100
    assert await within_caps(raw, one, caps.Room({WEEK: 1099}, {})) is False
    assert await stored_counts(migrated) == before


async def test_a_day_at_its_room_is_accepted_and_one_hundredth_over_is_refused(
    migrated: AsyncEngine, raw: asyncpg.Connection
) -> None:
    """Only that day's hours count, not the week's other days or undated hours."""
    await seed(
        migrated,
        [
            new_entry("ann", 1000, external_id=None),
            new_entry("ann", 2000, iso_week=49, entry_date=TUESDAY, external_id=None),
            new_entry("ann", 3000, entry_date=None, external_id=None),
            new_entry("bob", 2000, external_id=None),
        ],
    )
    one = [new_entry("ann", 100, external_id=None)]
    assert await within_caps(raw, one, caps.Room({WEEK: 10**6}, {DAY: 1000})) is True
    before = await stored_counts(migrated)  # ann's Monday now holds 1100
    assert await within_caps(raw, one, caps.Room({WEEK: 10**6}, {DAY: 1099})) is False
    assert await stored_counts(migrated) == before


async def test_rejected_hours_count_toward_neither_the_week_nor_the_day(
    migrated: AsyncEngine, raw: asyncpg.Connection
) -> None:
    """With no room left, a rejected week's and day's hours do not refuse the batch."""
    await seed(
        migrated,
        [
            new_entry("ann", 2000, external_id=None),
            new_entry("ann", 2000, entry_date=None, external_id=None),
        ],
        rejected=True,
    )
    one = [new_entry("ann", 100, external_id=None)]
    assert await within_caps(raw, one, caps.Room({WEEK: 0}, {DAY: 0})) is True
    assert await within_caps(raw, one, caps.Room({WEEK: 0}, {DAY: 10**6})) is False
    assert await within_caps(raw, one, caps.Room({WEEK: 10**6}, {DAY: 0})) is False
    assert await stored_counts(migrated) == [3, 3]


async def test_a_batch_that_waited_for_a_persons_lock_counts_what_the_holder_committed(
    migrated: AsyncEngine, raw: asyncpg.Connection
) -> None:
    """The sums see the rows committed while the function waited for the person's lock."""
    batch = [new_entry("ann", 1000, entry_date=None, external_id=None)]  # fits alone
    holder = await migrated.connect()
    try:
        transaction = await holder.begin()
        taken = await holder.run_sync(  # takes ann's lock, then 35 of her 40 hours
            lambda sync: repo.insert_many(
                sync,
                [new_entry("ann", 3500, entry_date=None, external_id=None)],
                lambda _type: 4000,
                NOW,
            )
        )
        assert not isinstance(taken[0], repo.RuleViolation)
        waiting = asyncio.create_task(within_caps(raw, batch, room_of(batch)))
        await until_someone_waits_for_a_lock(migrated, "advisory")
        assert not waiting.done()
        await transaction.commit()
        assert await asyncio.wait_for(waiting, 10) is False
    finally:
        await holder.close()
    assert await stored_counts(migrated) == [1, 1]


async def test_the_one_statement_insert_refuses_to_run_inside_a_transaction(
    migrated: AsyncEngine, raw: asyncpg.Connection
) -> None:
    """Its statement commits by itself: inside a caller's transaction it would not."""
    batch = [new_entry("ann")]
    async with raw.transaction():
        with pytest.raises(RuntimeError, match="transaction"):
            await within_caps(raw, batch, room_of(batch))
    assert await stored_counts(migrated) == [0, 0]


async def test_a_connection_lost_before_the_one_statement_insert_is_an_operational_error(
    migrated: AsyncEngine, raw: asyncpg.Connection
) -> None:
    """The writer answers 503 and takes a fresh connection after an OperationalError."""
    async with migrated.connect() as other:
        ended = await other.scalar(
            text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": raw.get_server_pid()}
        )
    assert ended
    for _ in range(100):  # the driver has seen the server close it: nothing is sent
        if raw.is_closed():
            break
        await asyncio.sleep(0.02)
    assert raw.is_closed()
    batch = [new_entry("ann")]
    with pytest.raises(OperationalError):
        await within_caps(raw, batch, room_of(batch))
    assert await stored_counts(migrated) == [0, 0]


async def test_a_connection_lost_during_the_one_statement_insert_is_an_unknown_outcome(
    migrated: AsyncEngine, raw: asyncpg.Connection
) -> None:
    """The call waits for a person's lock when its connection goes; the server still
    runs it to its commit once the lock is free, so the caller cannot be told it failed."""
    holder = await asyncpg.connect(
        migrated.url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await holder.execute("BEGIN; SELECT pg_advisory_xact_lock(hashtext('ann'))")
        batch = [new_entry("ann")]
        call = asyncio.create_task(within_caps(raw, batch, room_of(batch)))
        await asyncio.sleep(0.3)
        assert not call.done()
        raw.terminate()
        with pytest.raises(OutcomeUnknown):
            await call
        await holder.execute("COMMIT")
    finally:
        await holder.close()
    for _ in range(100):
        if await stored_counts(migrated) == [1, 1]:
            break
        await asyncio.sleep(0.05)
    assert await stored_counts(migrated) == [1, 1]


async def functions_like_it(engine: AsyncEngine) -> list[str]:
    """The names of the database's functions (PostgreSQL) or objects (SQLite) named
    like the one-statement insert."""
    sql = (
        "SELECT proname FROM pg_proc WHERE proname LIKE '%within_caps%'"
        if engine.dialect.name == "postgresql"
        else "SELECT name FROM sqlite_master WHERE name LIKE '%within_caps%'"
    )
    async with engine.connect() as connection:
        return list((await connection.execute(text(sql))).scalars())


def head_revision() -> str:
    """The newest revision of the API's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Alembic's downgrade to `revision`, as `db.upgrade` runs upgrades."""

    def run(connection: Connection) -> None:
        command.downgrade(db._alembic_config(MIGRATIONS, connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def test_the_migration_creates_the_function_and_its_downgrade_drops_it(
    migrated: AsyncEngine,
) -> None:
    """Revision 0005 adds the function on PostgreSQL; back at 0004 it is gone."""
    assert await db.current_revision(migrated) == head_revision()
    assert await functions_like_it(migrated) == ["insert_entries_within_caps"]
    await downgrade(migrated, "0004")
    assert await db.current_revision(migrated) == "0004"
    assert await functions_like_it(migrated) == []
    await db.upgrade(migrated, MIGRATIONS)
    assert await functions_like_it(migrated) == ["insert_entries_within_caps"]


async def test_on_sqlite_the_migration_creates_nothing_and_runs_both_ways(tmp_path: Path) -> None:
    """SQLite has no such functions: up to head and back to 0004 leave nothing named so."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}")
    try:
        await db.upgrade(engine, MIGRATIONS, "0004")
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: sorted(inspect(sync).get_table_names()))
        await db.upgrade(engine, MIGRATIONS)
        assert await db.current_revision(engine) == head_revision()
        assert await functions_like_it(engine) == []
        async with engine.connect() as connection:
            assert (
                await connection.run_sync(lambda s: sorted(inspect(s).get_table_names())) == tables
            )
        await downgrade(engine, "0004")
        assert await db.current_revision(engine) == "0004"
    finally:
        await engine.dispose()
