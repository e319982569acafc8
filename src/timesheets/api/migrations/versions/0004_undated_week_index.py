"""week ranges look up week-level entries: a partial index of the entries without a date

Dated entries of a week range are found by date in ix_entries_date_status (a date's ISO
week never changes), so ix_entries_undated_week holds only the entries without a date,
keyed (entry_date, iso_year, iso_week): the leading entry_date, NULL in every row,
matches the query's `entry_date IS NULL`, which lets SQLite choose this index.

It is built inside the migration's transaction: on PostgreSQL writes to entries wait for
the build (one read of the table) and reads go on; nothing is dropped, so nothing holds
off reads.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNDATED = "entry_date IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_entries_undated_week",
            ["entry_date", "iso_year", "iso_week"],
            unique=False,
            sqlite_where=sa.text(UNDATED),
            postgresql_where=sa.text(UNDATED),
        )


def downgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index("ix_entries_undated_week")
