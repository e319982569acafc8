"""The writer's hot statements on PostgreSQL: new entries with their "created" audit
events in one statement, and statements sent straight to asyncpg.

On PostgreSQL every statement is a round trip to another process, and the writer's
transaction already spends one each on BEGIN, the people's locks, the hour-cap sums and
COMMIT. Here a batch's entries go as one array per column through `unnest`, and a
data-modifying WITH adds each entry's audit event from the rows it inserted: one
statement of fixed text, prepared once per connection, where SQLAlchemy's two
`executemany` calls took two round trips and a bind per row. The values are bound as
they are (aware timestamps, dates, NULLs); only column names are written into the SQL.

The hour-cap sums and that insert go to the asyncpg connection under SQLAlchemy's, in
the transaction an earlier statement sent through SQLAlchemy opened (the people's locks
at the latest): SQLAlchemy's execution layer cost about 0.12 ms of the API's CPU per
statement on top of asyncpg's 0.06 ms (a standalone transaction of 8 creates, 1,000
commits), and a commit holds a few statements for a few entries. Errors come out as
SQLAlchemy's, as the writer expects. asyncpg prepares and caches these statements itself
(`statement_cache_size`, 100 by default; statements longer than 15,360 characters, the
sums of more than about 220 weeks, are prepared each time). Another PostgreSQL driver
gets them through SQLAlchemy as before.

Before any of that, a batch of new entries that all fit the hour caps is stored by one
call of migration 0005's function, `insert_entries_within_caps`, outside a transaction:
the call takes the people's locks, compares the stored hours with the room the batch
leaves (`domain.caps.room_for`), inserts the entries and their events, and commits, in
one round trip. Measured in the write benchmark, interleaved on this two-core machine,
it took the API's PostgreSQL writes from 2,967 and 3,317 to 4,431 and 5,170 a second.
The rows go as one JSON array read into the table's row type, so the function needs no
change when a column is added.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import asyncpg
import orjson
from sqlalchemy import String, Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.util import await_

from timesheets.api.domain.caps import Room
from timesheets.api.writer import OutcomeUnknown

#: The driver's errors that say the connection, not the statement, failed (SQLAlchemy's
#: asyncpg dialect reports the client-side ones as errors of the DBAPI too).
LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)


@functools.cache
def _statement(entries: Table, audit: Table) -> tuple[TextClause, tuple[str, ...]]:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    names = tuple(column.name for column in entries.columns)
    # Strings go as text[]: an explicit cast to varchar(n) would cut an over-long value
    # short, where the insert's own assignment to the column refuses it.
    arrays = ", ".join(
        f"CAST(:{column.name} AS "
        f"{'TEXT' if isinstance(column.type, String) else column.type.compile(dialect=dialect)}[])"
        for column in entries.columns
    )
    # Only the tables' own column names and types are formatted in; values are bound.
    sql = (
        f"WITH new AS (INSERT INTO {entries.name} ({', '.join(names)}) "  # noqa: S608
        f"SELECT * FROM unnest({arrays}) "
        "RETURNING id, created_by_subject, created_by_client, created_at) "
        f"INSERT INTO {audit.name} (entry_id, action, subject, client_id, at, detail) "
        "SELECT id, 'created', created_by_subject, created_by_client, created_at, "
        "CAST('{}' AS JSON) FROM new"
    )
    return text(sql), names


def insert_created(
    connection: Connection, entries: Table, audit: Table, rows: list[dict[str, Any]]
) -> None:
    """Insert `rows` (every column of `entries`) and a "created" event for each, at its
    `created_at`, by its creator."""
    statement, names = _statement(entries, audit)
    fetch(connection, statement, {name: [row[name] for row in rows] for name in names})


def _positional(statement: TextClause) -> tuple[str, tuple[str, ...]]:
    """The statement as asyncpg takes it (`$1`, `$2`...) and its parameters' names in
    that order."""
    return _compiled(statement.text)


@functools.lru_cache(maxsize=512)
def _compiled(sql: str) -> tuple[str, tuple[str, ...]]:
    compiled = text(sql).compile(dialect=asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]
    return str(compiled), tuple(compiled.positiontup or ())


#: A failed call of a statement that commits by itself that may still have committed: the
#: connection went during the call, without the server's verdict on the statement.
MAY_HAVE_COMMITTED = (asyncpg.ConnectionDoesNotExistError, OSError, TimeoutError)


def fetch(
    connection: Connection, statement: TextClause, params: Mapping[str, Any]
) -> Sequence[Any]:
    """The rows of `statement`, sent by asyncpg itself inside the transaction that
    `connection` already has open (the writer's first statement opens it)."""
    raw = connection.connection.driver_connection
    if not isinstance(raw, asyncpg.Connection):
        return connection.execute(statement, dict(params)).all()
    if not raw.is_in_transaction():
        raise RuntimeError("a statement sent to the driver needs the writer's transaction")
    sql, names = _positional(statement)
    values = [params[name] for name in names]
    with _as_sqlalchemy_errors(sql, values):
        rows: Sequence[Any] = await_(raw.fetch(sql, *values))
    return rows


@contextlib.contextmanager
def _as_sqlalchemy_errors(sql: str, values: Sequence[Any]) -> Iterator[None]:
    """The driver's errors as SQLAlchemy's, as the writer expects them."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as error:
        raise IntegrityError(sql, values, error) from error
    except LOST as error:  # the connection, not the statement
        raise OperationalError(sql, values, error) from error
    except asyncpg.PostgresError as error:
        raise DBAPIError(sql, values, error) from error


WITHIN_CAPS = (
    "SELECT insert_entries_within_caps("
    "CAST($1 AS JSON), $2::text[], $3::integer[], $4::integer[], $5::integer[], "
    "$6::text[], $7::integer[], $8::integer[], $9::date[], $10::integer[])"
)


def within_caps_arguments(rows: list[dict[str, Any]], room: Room) -> list[Any]:
    """The function's arguments, in order, for `rows` and `room`."""
    weeks, days = list(room.weeks.items()), list(room.days.items())
    return [
        orjson.dumps(rows).decode(),
        [key[0] for key, _ in weeks],
        [key[1] for key, _ in weeks],
        [key[2] for key, _ in weeks],
        [left for _, left in weeks],
        [key[0] for key, _ in days],
        [key[1] for key, _ in days],
        [key[2] for key, _ in days],
        [key[3] for key, _ in days],
        [left for _, left in days],
    ]


async def insert_within_caps(
    raw: asyncpg.Connection, rows: list[dict[str, Any]], room: Room
) -> bool:
    """Store `rows` and their "created" events in one statement, its own transaction,
    when the hours stored leave each week and day its `room` (migration 0005's function);
    whether it did (False, storing nothing, also for a value JSON cannot carry). `raw`
    must not be in a transaction. A connection lost during the call is OutcomeUnknown."""
    if raw.is_in_transaction():
        raise RuntimeError("the one-statement insert commits by itself: no transaction")
    try:
        values = within_caps_arguments(rows, room)
    except orjson.JSONEncodeError:
        return False  # a value JSON cannot carry (a lone surrogate): the transaction decides
    try:
        with _as_sqlalchemy_errors(WITHIN_CAPS, values):
            stored: bool = await raw.fetchval(WITHIN_CAPS, *values)
    except OperationalError as error:
        # asyncpg refuses a connection it knows closed before sending anything
        # (InterfaceError); one that goes during the call may have committed first.
        if isinstance(error.orig, MAY_HAVE_COMMITTED):
            raise OutcomeUnknown(str(error.orig)) from error
        raise
    return stored
