"""The repository's list on SQLite and PostgreSQL: which entries week and date bounds
select, pages in creation order whichever way the query is written, and the indexes that
serve week ranges."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from timesheets import db
from timesheets.api import repository as repo
from timesheets.api.app import MIGRATIONS


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The API's migrated schema, on SQLite and on PostgreSQL."""
    made = db.create_engine(database_url)
    await db.upgrade(made, MIGRATIONS)
    yield made
    await made.dispose()


@dataclass(frozen=True)
class Stored:
    """What the list filters and orders by, for an entry the test stores."""

    id: str
    user_id: str
    project: str
    status: str
    week: tuple[int, int]
    day: date | None
    created_at: datetime


START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
# ISO 2026 has 53 weeks: 2026-W53 is 28 December 2026 to 3 January 2027, and
# 2027-W01 starts on 4 January.
DAYS = [date(2026, 12, 14) + timedelta(days=n) for n in range(35)]  # 2026-W51 to 2027-W02
WEEKS = [(2026, 51), (2026, 52), (2026, 53), (2027, 1), (2027, 2)]


def made_entries() -> list[Stored]:
    """Dated entries on every day from 2026-W51 to 2027-W02 and week-level ones in each of
    those weeks, of two people, projects and statuses, created in an order unlike their
    dates, several at the same instant (then the id decides)."""
    draw = random.Random(7)
    made = []
    kinds: list[date | tuple[int, int]] = [*DAYS, *DAYS, *WEEKS, *WEEKS, *WEEKS]
    for n, kind in enumerate(kinds):
        day = kind if isinstance(kind, date) else None
        week = kind if isinstance(kind, tuple) else kind.isocalendar()[:2]
        made.append(
            Stored(
                id=f"{draw.randrange(16**32):032x}",
                user_id=("alice", "bob")[n % 2],
                project=("Alpha", "Beta", "Gamma")[n % 3],
                status=("approved", "submitted", "rejected")[n % 5 % 3],
                week=(week[0], week[1]),
                day=day,
                created_at=START + timedelta(minutes=draw.randrange(40)),
            )
        )
    return made


def row(entry: Stored) -> dict[str, Any]:
    return {
        "id": entry.id,
        "user_id": entry.user_id,
        "user_type": "Employee",
        "project": entry.project,
        "hundredths": 100,
        "iso_year": entry.week[0],
        "iso_week": entry.week[1],
        "entry_date": entry.day,
        "description": None,
        "status": entry.status,
        "rejection_reason": None,
        "decided_by": None,
        "decided_at": None,
        "created_by_subject": entry.user_id,
        "created_by_client": "web-app",
        "external_id": None,
        "created_at": entry.created_at,
        "updated_at": entry.created_at,
    }


def selects(where: repo.EntryFilter, entry: Stored) -> bool:
    """Whether the filter selects the entry, by the meaning of each filter."""
    return (
        where.user_id in (None, entry.user_id)
        and where.project in (None, entry.project)
        and where.status in (None, entry.status)
        and (where.date_from is None or (entry.day is not None and entry.day >= where.date_from))
        and (where.date_to is None or (entry.day is not None and entry.day <= where.date_to))
        and (where.week_from is None or entry.week >= where.week_from)
        and (where.week_to is None or entry.week <= where.week_to)
    )


FILTERS = {
    "across the new year": repo.EntryFilter(week_from=(2026, 53), week_to=(2027, 1)),
    "week 53 alone": repo.EntryFilter(week_from=(2026, 53), week_to=(2026, 53)),
    "from a week": repo.EntryFilter(week_from=(2026, 53)),
    "to a week": repo.EntryFilter(week_to=(2026, 52)),
    "weeks and a status": repo.EntryFilter(
        status="approved", week_from=(2026, 52), week_to=(2027, 1)
    ),
    "weeks and a project": repo.EntryFilter(
        project="Beta", week_from=(2026, 53), week_to=(2027, 2)
    ),
    "weeks and dates": repo.EntryFilter(
        week_from=(2026, 53), week_to=(2027, 1), date_from=date(2026, 12, 31)
    ),
    "weeks and dates that overlap only in part": repo.EntryFilter(
        week_from=(2026, 52),
        week_to=(2026, 53),
        date_from=date(2026, 12, 1),
        date_to=date(2027, 1, 5),
    ),
    "weeks after the dates": repo.EntryFilter(week_from=(2027, 2), date_to=date(2027, 1, 3)),
    "dates": repo.EntryFilter(date_from=date(2026, 12, 30), date_to=date(2027, 1, 6)),
    "dates and a status": repo.EntryFilter(status="submitted", date_from=date(2027, 1, 1)),
    "a person's weeks": repo.EntryFilter(user_id="alice", week_from=(2026, 53), week_to=(2027, 1)),
    "a person's weeks and dates": repo.EntryFilter(
        user_id="bob", week_to=(2027, 1), date_from=date(2026, 12, 29)
    ),
    "no bounds": repo.EntryFilter(project="Gamma"),
}


def unfenced(where: repo.EntryFilter, limit: int, offset: int) -> Any:
    """The page written as one query, ordered and cut where the filter is applied."""
    order = (repo.entries.c.created_at, repo.entries.c.id)
    query = repo._filtered(select(repo.entries.c.id), where)
    return query.order_by(*order).limit(limit).offset(offset)


async def test_bounds_select_dated_and_week_level_entries_in_creation_order(
    engine: AsyncEngine,
) -> None:
    made = made_entries()
    assert len({entry.created_at for entry in made}) < len(made)
    async with engine.begin() as connection:
        await connection.execute(insert(repo.entries), [row(entry) for entry in made])
    in_order = sorted(made, key=lambda entry: (entry.created_at, entry.id))

    def pages(connection: Connection) -> dict[str, Any]:
        found = {}
        for name, where in FILTERS.items():
            for offset in range(0, 60, 7):
                rows, total = repo.list_entries(connection, where, 7, offset)
                plain = connection.execute(unfenced(where, 7, offset)).scalars().all()
                found[f"{name}, offset {offset}"] = ([r["id"] for r in rows], plain, total)
        return found

    async with engine.connect() as connection:
        found = await connection.run_sync(pages)
    for name, where in FILTERS.items():
        expected = [entry.id for entry in in_order if selects(where, entry)]
        for offset in range(0, 60, 7):
            ids, plain, total = found[f"{name}, offset {offset}"]
            assert (ids, total) == (expected[offset : offset + 7], len(expected)), name
            assert ids == plain, name


async def test_across_the_new_year_both_kinds_of_entry_come_from_both_weeks(
    engine: AsyncEngine,
) -> None:
    """2026-W53 to 2027-W01: the days of week 53 in either year and the week-level
    entries of both weeks, nothing else."""
    async with engine.begin() as connection:
        await connection.execute(insert(repo.entries), [row(entry) for entry in made_entries()])
    async with engine.connect() as connection:
        rows, total = await connection.run_sync(
            repo.list_entries, FILTERS["across the new year"], 200, 0
        )
    days = {entry["entry_date"] for entry in rows}
    assert total == len(rows)
    assert days >= {date(2026, 12, 28), date(2027, 1, 3), date(2027, 1, 4), date(2027, 1, 10)}
    assert days <= {None, *DAYS[14:28]}
    undated = {(e["iso_year"], e["iso_week"]) for e in rows if e["entry_date"] is None}
    assert undated == {(2026, 53), (2027, 1)}


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ({"week_from": (2025, 53)}, "week_from: ISO year 2025 has weeks 1 to 52"),
        ({"week_to": (2026, 54)}, "week_to: ISO year 2026 has weeks 1 to 53"),
        ({"week_to": (2026, 0)}, "week_to: ISO year 2026 has weeks 1 to 53"),
    ],
)
def test_a_week_that_does_not_exist_is_refused(bounds: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        repo.EntryFilter(**bounds)


WEEK_LEVEL_BY_WEEK = re.compile(
    r"SEARCH entries USING (COVERING )?INDEX ix_entries_undated_week "
    r"\(entry_date=\? AND \(iso_year,iso_week\)>\(\?,\?\) AND \(iso_year,iso_week\)<\(\?,\?\)\)"
)
DATED_BY_DATE = "SEARCH entries USING INDEX ix_entries_date_status (entry_date>? AND entry_date<?)"


async def sqlite_plans(path: Path, where: repo.EntryFilter) -> tuple[str, str]:
    """SQLite's plans for the count and the page of a list, on a migrated file holding
    the test's entries. SQLite keeps no statistics unless asked (the API never asks), so
    its plans do not depend on the data: a few matching entries (the list reads no page
    past its count) show how it reads any number of them."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    sent: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        if args[2].startswith(("WITH", "SELECT")):
            sent.append((args[2], args[3]))

    def plans(connection: Connection) -> tuple[str, str]:
        connection.execute(insert(repo.entries), [row(e) for e in made_entries()])
        event.listen(connection, "before_cursor_execute", capture)
        repo.list_entries(connection, where, 50, 0)
        event.remove(connection, "before_cursor_execute", capture)
        explain = [connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", p) for sql, p in sent]
        count, page = [" / ".join(step[3] for step in steps) for steps in explain]
        return count, page

    try:
        await db.upgrade(engine, MIGRATIONS)
        async with engine.connect() as connection:
            return await connection.run_sync(plans)
    finally:
        await engine.dispose()


async def test_sqlite_looks_week_level_entries_up_by_week(tmp_path: Path) -> None:
    for plan in await sqlite_plans(tmp_path / "plans.db", FILTERS["across the new year"]):
        assert WEEK_LEVEL_BY_WEEK.search(plan), plan
        assert DATED_BY_DATE in plan, plan
        assert "SCAN entries" not in plan, plan


@pytest.mark.parametrize(
    ("where", "index"),
    [
        (
            repo.EntryFilter(user_id="bob", date_from=date(2026, 12, 29)),
            "INDEX ix_entries_user_date_hours (user_id=? AND entry_date>?)",
        ),
        (
            repo.EntryFilter(date_from=date(2026, 12, 30), date_to=date(2027, 1, 6)),
            "INDEX ix_entries_date_status (entry_date>? AND entry_date<?)",
        ),
    ],
    ids=["a person's dates", "dates"],
)
async def test_sqlite_reads_the_dated_only_indexes_for_dates_alone(
    tmp_path: Path, where: repo.EntryFilter, index: str
) -> None:
    """The indexes keyed by date hold only dated entries (migration 0006): SQLite still
    looks a date range up in them."""
    for plan in await sqlite_plans(tmp_path / "plans.db", where):
        assert f"SEARCH entries USING {index}" in plan or (
            f"SEARCH entries USING COVERING {index}" in plan
        ), plan
        assert "SCAN entries" not in plan, plan


async def test_sqlite_counts_every_entry_from_an_index_alone(tmp_path: Path) -> None:
    """The unfiltered list's total reads an index, never the table. SQLite counts through
    the index it expects to be smallest, and skips partial ones: since migration 0006 that
    is the primary key's (about 1.6 times the pages of the whole date index it read
    before)."""
    count, _ = await sqlite_plans(tmp_path / "plans.db", repo.EntryFilter())
    assert re.fullmatch(r"SCAN entries USING COVERING INDEX \w+", count), count


def indexes(connection: Connection) -> dict[str, str]:
    """The definitions of the entries table's indexes, by name."""
    if connection.dialect.name == "postgresql":
        sql = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'entries'"
    else:
        sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    return {name: definition for name, definition in connection.execute(text(sql)).all()}


def migrate(connection: Connection, to: str) -> dict[str, str]:
    """Upgrade to head or downgrade to `to`; the indexes then."""
    config = db._alembic_config(MIGRATIONS, connection)
    if to == "head":
        command.upgrade(config, to)
    else:
        command.downgrade(config, to)
    return indexes(connection)


async def test_migration_0004_adds_and_removes_the_week_level_index(engine: AsyncEngine) -> None:
    """Only entries without a date are in it; the downgrade drops it, and it comes back."""
    async with engine.begin() as connection:
        upgraded = await connection.run_sync(indexes)
        at_0004 = await connection.run_sync(migrate, "0004")
        downgraded = await connection.run_sync(migrate, "0003")
        again = await connection.run_sync(migrate, "head")
    definition = upgraded["ix_entries_undated_week"]
    keyed = r"\(entry_date, iso_year, iso_week\) WHERE \(?entry_date IS NULL\)?$"
    assert re.search(keyed, definition)
    assert set(at_0004) - set(downgraded) == {"ix_entries_undated_week"}
    assert again == upgraded


async def test_migration_0006_keeps_week_level_entries_out_of_the_date_indexes(
    engine: AsyncEngine,
) -> None:
    """A person's days hold only dated entries, and so does the date index on SQLite;
    the downgrade makes them whole again, and the upgrade partial once more."""
    postgres = engine.dialect.name == "postgresql"
    async with engine.begin() as connection:
        # Both ways with entries of both kinds in the table, which the builds read.
        await connection.execute(insert(repo.entries), [row(e) for e in made_entries()])
        upgraded = await connection.run_sync(indexes)
        at_0006 = await connection.run_sync(migrate, "0006")
        downgraded = await connection.run_sync(migrate, "0005")
        again = await connection.run_sync(migrate, "head")
    partial = r"WHERE \(?entry_date IS NOT NULL\)?$"
    assert re.search(partial, upgraded["ix_entries_user_date_hours"])
    assert not re.search(partial, downgraded["ix_entries_user_date_hours"])
    assert bool(re.search(partial, upgraded["ix_entries_date_status"])) is not postgres
    assert not re.search(partial, downgraded["ix_entries_date_status"])
    assert set(at_0006) == set(downgraded)
    assert again == upgraded
