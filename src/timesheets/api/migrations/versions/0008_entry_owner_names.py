"""entries keep their owner's name, as the person's own token gave it

A nullable `user_name` column, at the end of the table: entries stored before it, and
those a machine stores for someone, have none. Both databases add a nullable column
without rewriting the table. Migration 0005's function reads new rows into the table's
own row type, so it stores the name with no change.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("entries", sa.Column("user_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35; no index names this one.
    op.drop_column("entries", "user_name")
