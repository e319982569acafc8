"""PostgreSQL: new entries stored in one statement when they fit the hour caps

`insert_entries_within_caps` takes a person's lock for each person of a batch (the
same `pg_advisory_xact_lock(hashtext(user_id))` the writer's transactions take), then
compares the hours already stored in each of the batch's weeks and days with the room
the batch leaves there, and only when every one fits inserts the batch and a "created"
audit event for each entry. It answers whether it did. Called alone, outside a
transaction, the call is its own transaction: one round trip, where the writer's
transaction spends five (BEGIN, the locks, the sums, the insert, COMMIT). The function
is VOLATILE and written in PL/pgSQL, so its sums take a snapshot after the locks are
held (PostgreSQL's documentation, "Function Volatility Categories"): a batch that
waited for another's lock sees the entries that batch committed.

Both sums find the person's week through the person-week index, the day's hours by a
FILTER rather than a condition on the date: PL/pgSQL keeps a generic plan for each
statement, and one made with a condition on the date may read the whole day through
ix_entries_date_status for every person (seen under load: 2-34 ms a call, where the
person-week plan takes 0.05 ms). The rules themselves
(which room a batch leaves) stay in the API's code; a batch that does not fit is
stored by the writer's transaction, which refuses the entries that do not fit.

New rows come as a JSON array of objects named by column, read into the table's own
row type, so a column added later needs no new function. SQLite has no such
functions: nothing is created there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 17:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = (
    "insert_entries_within_caps(json, text[], integer[], integer[], integer[], "
    "text[], integer[], integer[], date[], integer[])"
)

CREATE = """
CREATE FUNCTION insert_entries_within_caps(
    new_rows json,
    week_users text[], week_years integer[], week_numbers integer[], week_room integer[],
    day_users text[], day_years integer[], day_weeks integer[], days date[], day_room integer[]
) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(h) FROM (
        SELECT DISTINCT hashtext(u) AS h FROM unnest(week_users) AS u ORDER BY h
    ) AS locks;
    IF EXISTS (
        SELECT 1
        FROM unnest(week_users, week_years, week_numbers, week_room)
            AS k(user_id, iso_year, iso_week, room)
        WHERE k.room < (
            SELECT coalesce(sum(e.hundredths), 0) FROM entries e
            WHERE e.user_id = k.user_id AND e.iso_year = k.iso_year
              AND e.iso_week = k.iso_week AND e.status <> 'rejected'
        )
    ) OR EXISTS (
        SELECT 1
        FROM unnest(day_users, day_years, day_weeks, days, day_room)
            AS k(user_id, iso_year, iso_week, day, room)
        WHERE k.room < (
            SELECT coalesce(sum(e.hundredths) FILTER (WHERE e.entry_date = k.day), 0)
            FROM entries e
            WHERE e.user_id = k.user_id AND e.iso_year = k.iso_year
              AND e.iso_week = k.iso_week AND e.status <> 'rejected'
        )
    ) THEN
        RETURN false;
    END IF;
    WITH new AS (
        INSERT INTO entries SELECT * FROM json_populate_recordset(NULL::entries, new_rows)
        RETURNING id, created_by_subject, created_by_client, created_at
    )
    INSERT INTO audit_events (entry_id, action, subject, client_id, at, detail)
    SELECT id, 'created', created_by_subject, created_by_client, created_at,
           CAST('{}' AS JSON)
    FROM new;
    RETURN true;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {SIGNATURE}")
