"""the hour-cap sums read only their indexes: status and hours join (person, week) and (person, day)

The covering indexes are built under new names before the old ones are dropped: on
PostgreSQL, building an index holds off writes to entries but not reads, while a dropped
index holds off both until the migration commits, which is right after the drops.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 05:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WEEK = ["user_id", "iso_year", "iso_week"]
DAY = ["user_id", "entry_date"]
SUMMED = ["status", "hundredths"]


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index("ix_entries_user_week_hours", [*WEEK, *SUMMED], unique=False)
        batch_op.create_index("ix_entries_user_date_hours", [*DAY, *SUMMED], unique=False)
        batch_op.drop_index("ix_entries_user_week")
        batch_op.drop_index("ix_entries_user_date")


def downgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index("ix_entries_user_week", WEEK, unique=False)
        batch_op.create_index("ix_entries_user_date", DAY, unique=False)
        batch_op.drop_index("ix_entries_user_week_hours")
        batch_op.drop_index("ix_entries_user_date_hours")
