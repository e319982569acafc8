"""clients can be disabled; the built-in management API is marked as a system API

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    with op.batch_alter_table("resource_servers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_system", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("resource_servers", schema=None) as batch_op:
        batch_op.drop_column("is_system")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("enabled")
