"""New entries and their "created" audit events on PostgreSQL, in one statement.

On PostgreSQL every statement is a round trip to another process, and the writer's
transaction already spends one each on BEGIN, the people's locks, the two hour-cap sums
and COMMIT. Here a batch's entries go as one array per column through `unnest`, and a
data-modifying WITH adds each entry's audit event from the rows it inserted: one
statement of fixed text, prepared once per connection, where SQLAlchemy's two
`executemany` calls took two round trips and a bind per row. The values are bound as
they are (aware timestamps, dates, NULLs); only column names are written into the SQL.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import String, Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection


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
    connection.execute(statement, {name: [row[name] for row in rows] for name in names})
