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
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import String, Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.util import await_

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
    try:
        rows: Sequence[Any] = await_(raw.fetch(sql, *values))
    except asyncpg.IntegrityConstraintViolationError as error:
        raise IntegrityError(sql, values, error) from error
    except LOST as error:  # the connection, not the statement
        raise OperationalError(sql, values, error) from error
    except asyncpg.PostgresError as error:
        raise DBAPIError(sql, values, error) from error
    return rows
