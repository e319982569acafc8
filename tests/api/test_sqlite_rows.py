"""Entries written through the `sqlite3` driver read back as if SQLAlchemy had written them.

Each test runs the repository's bulk insert twice on one SQLite file: once on the driver
path the group-commit writer takes, once with that path turned off (SQLAlchemy Core, as
on PostgreSQL), and compares what the two stored, column by column.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.api.new_entries import new_entry
from timesheets.api import repository as repo
from timesheets.api import sqlite_rows
from timesheets.api.models import Base

NOW = datetime(2026, 11, 30, 5, 16, 36, 720645, tzinfo=UTC)
WEEKLY_CAP = 4000  # 40 hours


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite file with the API's tables, on the standard driver."""
    sync = create_engine(f"sqlite+pysqlite:///{tmp_path / 'api.db'}")
    Base.metadata.create_all(sync)
    yield sync
    sync.dispose()


def insert(
    engine: Engine, batch: list[repo.NewEntry], *, driver: bool, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, Any] | repo.RuleViolation]:
    """Run the bulk insert in one transaction, on the driver path or on Core."""
    with monkeypatch.context() as patch:
        if not driver:
            patch.setattr(sqlite_rows, "driver_of", lambda _connection: None)
        with engine.begin() as connection:
            return repo.insert_many(connection, batch, lambda _type: WEEKLY_CAP, NOW)


def stored_text(connection: Connection, table: str, key: str, value: str) -> dict[str, Any]:
    """A row as SQLite holds it (no type processing), without its generated key."""
    # The table and column names are the test's own constants.
    row = (
        connection.execute(
            text(f"SELECT * FROM {table} WHERE {key} = :value"),  # noqa: S608
            {"value": value},
        )
        .mappings()
        .one()
    )
    return {k: v for k, v in row.items() if k not in ("id", "entry_id", "user_id", "external_id")}


def test_the_driver_path_is_taken_on_the_standard_driver(engine: Engine) -> None:
    """The writer's connections are `sqlite3` ones, so the fast path is the one tested."""
    with engine.connect() as connection:
        assert sqlite_rows.driver_of(connection) is not None


def test_driver_and_core_store_the_same_text(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every column of the entry and of its audit event is stored identically."""
    by_driver = insert(
        engine, [new_entry("ann", user_name="Ann Lee")], driver=True, monkeypatch=monkeypatch
    )
    by_core = insert(
        engine, [new_entry("bob", user_name="Ann Lee")], driver=False, monkeypatch=monkeypatch
    )
    ids = [row["id"] for row in by_driver + by_core if isinstance(row, dict)]
    with engine.connect() as connection:
        entries = [stored_text(connection, "entries", "id", entry_id) for entry_id in ids]
        events = [stored_text(connection, "audit_events", "entry_id", entry_id) for entry_id in ids]
    assert entries[0] == entries[1]
    assert entries[0]["created_at"] == "2026-11-30 05:16:36.720645"
    assert entries[0]["entry_date"] == "2026-11-30"
    assert entries[0]["user_name"] == "Ann Lee"
    assert events[0] == events[1]
    assert events[0]["detail"] == "{}"


def test_rows_written_by_the_driver_read_back_typed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the models, a driver-written row is the row the insert returned."""
    (written,) = insert(
        engine, [new_entry("ann", user_name="Ann Lee")], driver=True, monkeypatch=monkeypatch
    )
    assert isinstance(written, dict)
    with engine.connect() as connection:
        read = repo.get_entry(connection, written["id"])
        trail = repo.audit_trail(connection, written["id"])
    assert read == written
    assert read["created_at"] == NOW
    assert read["entry_date"] == date(2026, 11, 30)
    assert read["user_name"] == "Ann Lee"
    assert [(e["action"], e["at"], e["detail"]) for e in trail] == [("created", NOW, {})]


@pytest.mark.parametrize("driver", [True, False], ids=["driver", "core"])
def test_the_hour_caps_count_stored_hours_on_both_paths(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, driver: bool
) -> None:
    """Stored hours are summed per week and per day: over either cap is refused, the rest
    of the batch is stored."""
    insert(
        engine,
        [
            new_entry("ann", 2000, entry_date=date(2026, 12, 1), external_id="a1"),
            new_entry("ann", 1800, entry_date=date(2026, 12, 2), external_id="a2"),
            new_entry("bob", 2300, external_id="b1"),
        ],
        driver=driver,
        monkeypatch=monkeypatch,
    )
    outcomes = insert(
        engine,
        [
            new_entry("ann", 300, external_id="a3"),  # 41 h in the week
            new_entry("ann", 200, external_id="a4"),  # exactly 40 h
            new_entry("bob", 200, external_id="b2"),  # 25 h on one day
            new_entry("bob", 100, external_id="b3"),  # exactly 24 h that day
        ],
        driver=driver,
        monkeypatch=monkeypatch,
    )
    assert [str(o) if isinstance(o, repo.RuleViolation) else "stored" for o in outcomes] == [
        "more than 40 hours in ISO week 2026-W49",
        "stored",
        "more than 24 hours on 2026-11-30",
        "stored",
    ]


def test_stored_refuses_a_naive_time_and_converts_to_utc() -> None:
    """As the models' UtcDateTime does: no naive times; other zones become UTC."""
    with pytest.raises(ValueError, match="naive"):
        sqlite_rows.stored(datetime(2026, 11, 30, 5, 0))
    later = datetime(2026, 11, 30, 7, 0, tzinfo=timezone(timedelta(hours=2)))
    assert sqlite_rows.stored(later) == "2026-11-30 05:00:00.000000"


def test_a_full_disk_on_the_driver_path_is_sqlalchemy_s_operational_error(
    engine: Engine,
) -> None:
    """So the writer answers 503 (the store is unavailable), as for any other statement."""
    with engine.begin() as connection:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
    batch = [new_entry(f"person-{n}", description="x" * 2000) for n in range(50)]
    with engine.begin() as connection:
        connection.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(OperationalError, match="full"):
            repo.insert_many(connection, batch, lambda _type: WEEKLY_CAP, NOW)


def test_a_unique_key_lost_on_the_driver_path_is_sqlalchemy_s_integrity_error(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So the writer runs the batch again, as when another instance stored it first."""
    insert(engine, [new_entry("ann")], driver=True, monkeypatch=monkeypatch)
    with pytest.raises(IntegrityError, match="UNIQUE"):
        insert(engine, [new_entry("ann")], driver=True, monkeypatch=monkeypatch)
