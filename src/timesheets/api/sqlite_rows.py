"""New entries on a SQLite file, written through the `sqlite3` driver itself.

The group-commit writer runs every SQLite transaction on the standard `sqlite3` driver in
a thread of its own. For a transaction of one or two new entries, SQLAlchemy's execution
layer (compiled-cache lookup, parameter processing, result wrapping) costs about twice
what SQLite spends on the statements: 276 µs against 95 µs for a one-entry transaction
(the hour-cap sums, the insert and its audit event) on this project's machine, and the
repository's insert took 278 to 280 µs on Core against 157 to 182 µs through here. So the
writer's hour-cap sums and bulk inserts go to the driver with fixed SQL, and the values
are converted here exactly as SQLAlchemy's SQLite types store them (ISO dates, UTC
timestamps as `YYYY-MM-DD HH:MM:SS.ffffff`, JSON text): rows read back through the
models the same whichever path wrote them. Everything else stays on SQLAlchemy Core.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, Table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from timesheets.db import UtcDateTime

TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"


def driver_of(connection: Connection) -> sqlite3.Connection | None:
    """The `sqlite3` connection under `connection`, or None on any other driver."""
    if connection.dialect.name != "sqlite":
        return None
    raw = connection.connection.driver_connection
    return raw if isinstance(raw, sqlite3.Connection) else None


def stored(value: Any) -> Any:
    """A value as SQLAlchemy's SQLite types store it."""
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value)
    return value


@functools.lru_cache(maxsize=64)  # a batch's rows share their creation time
def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).strftime(TIMESTAMP)


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _converter(column: Column[Any]) -> Callable[[Any], Any] | None:
    """How a column's values are stored, or None when the driver takes them as they are."""
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return _optional(_timestamp)
    if isinstance(kind, Date):
        return _optional(date.isoformat)
    if isinstance(kind, JSON):
        return _optional(json.dumps)
    return None


@functools.cache
def insert_plan(table: Table) -> tuple[str, tuple[tuple[str, Callable[[Any], Any] | None], ...]]:
    """An INSERT naming every column of `table` but an integer key SQLite assigns, and
    those columns in the statement's order with the conversion each value needs."""
    columns = [c for c in table.columns if not (c.primary_key and c.autoincrement is True)]
    names = [c.name for c in columns]
    # Only the table's own column names are formatted in; values are bound parameters.
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608
        f"VALUES ({', '.join('?' for _ in names)})"
    )
    return sql, tuple((c.name, _converter(c)) for c in columns)


def insert_rows(raw: sqlite3.Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dicts by column name) into `table` with one `executemany`."""
    sql, columns = insert_plan(table)
    values = [
        tuple(row[name] if convert is None else convert(row[name]) for name, convert in columns)
        for row in rows
    ]
    with _as_sqlalchemy_errors(sql, values):
        raw.executemany(sql, values)


def query(raw: sqlite3.Connection, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of a SELECT with named parameters."""
    values = {name: stored(value) for name, value in params.items()}
    with _as_sqlalchemy_errors(sql, values):
        return raw.execute(sql, values).fetchall()


@contextlib.contextmanager
def _as_sqlalchemy_errors(sql: str, params: Any) -> Iterator[None]:
    """The driver's errors as SQLAlchemy raises them (OperationalError for a full disk,
    IntegrityError for a unique key), so the writer tells a store that is unavailable or a
    race lost from a write a rule refused, as on every other statement."""
    try:
        yield
    except sqlite3.Error as error:
        raise DBAPIError.instance(sql, params, error, sqlite3.Error) from error
