"""The repository's own rules, apart from its SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.conftest import migrated_database
from tests.api.new_entries import new_entry
from tests.pg import PostgresServer
from timesheets import db
from timesheets.api import pg_rows
from timesheets.api import repository as repo
from timesheets.api.app import MIGRATIONS


def test_a_dated_entry_must_be_in_its_dates_iso_week() -> None:
    """The hour caps read a day's hours from its week: an entry filed under another
    week would escape its day's cap."""
    with pytest.raises(ValueError, match="2026-11-30 is not in ISO week 2026-W48"):
        new_entry("ann", iso_year=2026, iso_week=48, entry_date=date(2026, 11, 30))
    assert new_entry("ann", iso_year=2025, iso_week=1, entry_date=date(2024, 12, 30))
    assert new_entry("ann", iso_year=2026, iso_week=48, entry_date=None)


async def test_another_driver_gets_the_writers_statements_through_sqlalchemy(
    tmp_path: Path,
) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    try:
        async with engine.connect() as connection:
            rows = await connection.run_sync(
                lambda sync: pg_rows.fetch(sync, text("SELECT :a + 1"), {"a": 41})
            )
    finally:
        await engine.dispose()
    assert [tuple(row) for row in rows] == [(42,)]


# All of a batch at once, on PostgreSQL, when it fits the hour caps (`insert_all_within_caps`).

NOW = datetime(2026, 11, 30, 5, 16, 36, 720645, tzinfo=UTC)
MONDAY, TUESDAY = date(2026, 11, 30), date(2026, 12, 1)
CAPS = {"Contractor": 4000, "Employee": 4500}


def weekly_cap(user_type: str) -> int:
    """40 hours a week for contractors, 45 for employees."""
    return CAPS[user_type]


@pytest.fixture
async def twin(pg_server: PostgresServer) -> AsyncIterator[AsyncEngine]:
    """A second such database, to run the same batches entry by entry."""
    async with migrated_database(pg_server) as engine:
        yield engine


def dated(user_id: str, hundredths: int, day: date = MONDAY, **fields: Any) -> repo.NewEntry:
    """A contractor's entry on `day`, in its ISO week."""
    year, week, _ = day.isocalendar()
    return new_entry(
        user_id,
        hundredths,
        iso_year=year,
        iso_week=week,
        entry_date=day,
        external_id=None,
        **fields,
    )


def weekly(user_id: str, hundredths: int, **fields: Any) -> repo.NewEntry:
    """A contractor's entry for ISO week 2026-W49 as a whole."""
    return new_entry(user_id, hundredths, entry_date=None, external_id=None, **fields)


async def seed(
    engine: AsyncEngine, live: list[repo.NewEntry], rejected: tuple[repo.NewEntry, ...] = ()
) -> None:
    """Store entries past any week cap, `rejected` ones then rejected."""
    async with engine.begin() as connection:
        rows = await connection.run_sync(
            lambda sync: repo.insert_many(sync, [*live, *rejected], lambda _type: 10**6, NOW)
        )
        assert not [row for row in rows if isinstance(row, repo.RuleViolation)]
        for row in rows[len(live) :]:
            await connection.execute(
                text("UPDATE entries SET status = 'rejected' WHERE id = :id"),
                {"id": row["id"]},
            )


async def stored(engine: AsyncEngine) -> list[tuple[str, int]]:
    """Each committed entry's person and hours, with how many audit events there are."""
    async with engine.connect() as connection:
        found = await connection.execute(select(repo.entries.c.user_id, repo.entries.c.hundredths))
        events = await connection.scalar(select(func.count()).select_from(repo.audit))
    return [*sorted(tuple(row) for row in found), ("events", events)]


async def test_a_batch_that_fits_is_stored_at_once_and_its_rows_returned(
    migrated: AsyncEngine, raw: asyncpg.Connection
) -> None:
    """The rows come back as stored, in the batch's order."""
    batch = [dated("ann", 800), weekly("bob", 4000), dated("ann", 1600)]
    rows = await repo.insert_all_within_caps(raw, batch, weekly_cap, NOW)
    assert rows is not None
    assert [(row["user_id"], row["hundredths"]) for row in rows] == [
        ("ann", 800),
        ("bob", 4000),
        ("ann", 1600),
    ]
    async with migrated.connect() as connection:
        found = [
            await connection.run_sync(lambda sync, i=row["id"]: repo.get_entry(sync, i))
            for row in rows
        ]
    assert found == rows


@pytest.mark.parametrize(
    "batch",
    [
        [dated("ann", 2000), dated("ann", 401)],  # 24 h and a hundredth on one day
        [weekly("ann", 2500), weekly("ann", 1501)],  # 40 h and a hundredth in a week
    ],
    ids=["day", "week"],
)
async def test_a_batch_over_a_cap_by_itself_is_declined_without_a_statement(
    raw: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, batch: list[repo.NewEntry]
) -> None:
    """No room is left whatever is stored: the database is not asked."""

    async def asked(*_args: Any) -> bool:
        raise AssertionError("a statement was sent")

    monkeypatch.setattr(pg_rows, "insert_within_caps", asked)
    assert await repo.insert_all_within_caps(raw, batch, weekly_cap, NOW) is None


async def test_stored_hours_that_leave_too_little_room_decline_the_batch_storing_nothing(
    migrated: AsyncEngine, raw: asyncpg.Connection
) -> None:
    """One entry over its week declines all of them, the others fitting included."""
    await seed(migrated, [weekly("ann", 3500)])
    before = await stored(migrated)
    batch = [dated("bob", 800), dated("ann", 501)]
    assert await repo.insert_all_within_caps(raw, batch, weekly_cap, NOW) is None
    assert await stored(migrated) == before


async def test_another_driver_is_declined(tmp_path: Path) -> None:
    """Only asyncpg has the one-statement form: an aiosqlite connection gets None."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    try:
        await db.upgrade(engine, MIGRATIONS)
        async with engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert not isinstance(driver, asyncpg.Connection)
            found = await repo.insert_all_within_caps(driver, [dated("ann", 800)], weekly_cap, NOW)
        assert found is None
        assert (
            await repo.insert_all_within_caps(object(), [dated("ann", 8)], weekly_cap, NOW) is None
        )
    finally:
        await engine.dispose()


# (hours stored, hours stored then rejected, the batch, whether every entry fits); each
# case has people of its own.
CASES: list[tuple[list[repo.NewEntry], list[repo.NewEntry], list[repo.NewEntry], bool]] = [
    ([], [], [dated("c1", 800), dated("c1", 800)], True),
    ([weekly("c2", 3000)], [], [weekly("c2", 500), dated("c2", 500)], True),  # 40 h
    ([weekly("c3", 3001)], [], [weekly("c3", 500), dated("c3", 500)], False),
    ([dated("c4", 2000)], [], [dated("c4", 400)], True),  # 24 h that day
    ([dated("c5", 2000)], [], [dated("c5", 401)], False),
    ([dated("c6", 2000)], [], [dated("c6", 401, TUESDAY)], True),  # another day
    ([], [dated("c7", 2000), weekly("c7", 2000)], [dated("c7", 2400), weekly("c7", 1600)], True),
    # An employee's 45 hours, then a contractor's 40 past: the second is over.
    ([weekly("c8", 3500)], [], [weekly("c8", 600, user_type="Employee"), weekly("c8", 100)], False),
    ([weekly("c9", 3500)], [], [weekly("c9", 100), weekly("c9", 600, user_type="Employee")], True),
    # A contractor's 40 hours reached before an employee's entry: the first is over.
    (
        [weekly("c16", 1001)],
        [],
        [weekly("c16", 3000), weekly("c16", 200, user_type="Employee")],
        False,
    ),
    (
        [weekly("c17", 1000)],
        [],
        [weekly("c17", 3000), weekly("c17", 200, user_type="Employee")],
        True,
    ),
    ([dated("c10b", 2000)], [], [dated("c10a", 800), dated("c10b", 401)], False),
    ([dated("c11", 2000, date(2024, 12, 30))], [], [dated("c11", 401, date(2024, 12, 30))], False),
    ([dated("c12", 2000, date(2024, 12, 30))], [], [dated("c12", 400, date(2024, 12, 30))], True),
    ([], [], [dated("c13", 2000), dated("c13", 401)], False),  # over by itself
    (  # another week's, another year's and another person's hours do not count
        [weekly("c14", 4000, iso_week=48), weekly("c14", 4000, iso_year=2025), weekly("c15", 4000)],
        [],
        [weekly("c14", 4000)],
        True,
    ),
]


async def test_a_batch_is_stored_at_once_exactly_when_insert_many_would_admit_every_entry(
    migrated: AsyncEngine, twin: AsyncEngine, raw: asyncpg.Connection
) -> None:
    """On the same stored hours, None means `insert_many` refuses some entry, and rows
    mean it admits them all."""
    for engine in (migrated, twin):
        await seed(
            engine,
            [entry for live, _, _, _ in CASES for entry in live],
            tuple(entry for _, rejected, _, _ in CASES for entry in rejected),
        )
    before = await stored(migrated)
    outcomes: list[tuple[bool, bool]] = []
    for _live, _rejected, batch, _fits in CASES:
        at_once = await repo.insert_all_within_caps(raw, batch, weekly_cap, NOW)
        async with twin.begin() as connection:
            one_by_one = await connection.run_sync(
                lambda sync, batch=batch: repo.insert_many(sync, batch, weekly_cap, NOW)
            )
        admitted = not any(isinstance(row, repo.RuleViolation) for row in one_by_one)
        outcomes.append((at_once is not None, admitted))
    assert outcomes == [(fits, fits) for *_, fits in CASES]
    # Only the batches that fit were stored, each with its events.
    added = [(e.user_id, e.hundredths) for *_, batch, fits in CASES if fits for e in batch]
    *entries, (_, events) = before
    assert await stored(migrated) == [*sorted([*entries, *added]), ("events", events + len(added))]


async def test_a_change_to_a_gone_entry_is_missing_and_to_a_decided_one_a_conflict(
    database_url: str,
) -> None:
    """A delete or decision whose entry a request committed first deleted is Missing
    (404), not a conflict with its state (409), and records nothing."""
    engine = db.create_engine(database_url)
    await db.upgrade(engine, MIGRATIONS)
    try:
        async with engine.begin() as connection:
            [gone, approved] = await connection.run_sync(
                lambda sync: repo.insert_many(
                    sync, [weekly("ann", 800), weekly("bob", 800)], lambda _type: 10**6, NOW
                )
            )
            assert isinstance(gone, dict)
            assert isinstance(approved, dict)
            await connection.run_sync(repo.delete_entry, gone["id"], "ann", "spa", NOW)
            await connection.run_sync(repo.decide, approved["id"], True, None, "mona", "spa", NOW)
        changes = [
            (repo.delete_entry, (gone["id"], "ann", "spa", NOW), repo.Missing),
            (repo.decide, (gone["id"], True, None, "mona", "spa", NOW), repo.Missing),
            (repo.decide, (gone["id"], False, "no", "mona", "spa", NOW), repo.Missing),
            (repo.delete_entry, (approved["id"], "bob", "spa", NOW), repo.Conflict),
            (repo.decide, (approved["id"], False, "no", "mona", "spa", NOW), repo.Conflict),
        ]
        for change, arguments, refusal in changes:
            before = await stored(engine)
            with pytest.raises(refusal):
                async with engine.begin() as connection:
                    await connection.run_sync(change, *arguments)
            assert await stored(engine) == before
    finally:
        await engine.dispose()
