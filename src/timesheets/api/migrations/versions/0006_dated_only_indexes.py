"""the indexes keyed by date hold only dated entries, where nothing else reads them

ix_entries_user_date_hours (a person's date ranges) is only read with a condition on
entry_date, which no entry without a date meets: a comparison on a column implies that
it is not NULL, so SQLite and PostgreSQL both use a partial index `WHERE entry_date IS
NOT NULL` for those reads. ix_entries_date_status is too on SQLite; PostgreSQL also
counts entries by status through it (with nine entries in ten approved, it would read
the whole table otherwise), so there it keeps every entry. Week-level entries (the
seed's body) then write two B-trees fewer on SQLite, one fewer on PostgreSQL, and a
commit writes fewer pages. The price, on SQLite: counting every entry (an unfiltered
list's total), which skips partial indexes, reads the primary key's index, about 1.6
times the pages of the whole date index.

On PostgreSQL the new index is built under another name before the old one is dropped
(writes to entries wait for the build, reads go on) and then takes the old one's name:
the drop, which holds off reads too, comes last. On SQLite the index is dropped and
built again; readers see the old schema until the migration commits.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATED = "entry_date IS NOT NULL"
PERSON_DAYS = "ix_entries_user_date_hours"
DAYS = "ix_entries_date_status"
COLUMNS = {
    PERSON_DAYS: ["user_id", "entry_date", "status", "hundredths"],
    DAYS: ["entry_date", "status"],
}


def _rebuild(name: str, *, partial: bool) -> None:
    where = sa.text(DATED) if partial else None
    if op.get_context().dialect.name == "postgresql":
        op.create_index(f"{name}_next", "entries", COLUMNS[name], postgresql_where=where)
        op.drop_index(name, table_name="entries")
        op.execute(f"ALTER INDEX {name}_next RENAME TO {name}")
        return
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index(name)
        batch_op.create_index(name, COLUMNS[name], sqlite_where=where)


def upgrade() -> None:
    _rebuild(PERSON_DAYS, partial=True)
    if op.get_context().dialect.name == "sqlite":
        _rebuild(DAYS, partial=True)


def downgrade() -> None:
    _rebuild(PERSON_DAYS, partial=False)
    if op.get_context().dialect.name == "sqlite":
        _rebuild(DAYS, partial=False)
