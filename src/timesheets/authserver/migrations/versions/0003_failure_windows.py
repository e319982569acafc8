"""failure windows shared by the instances (throttling)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "failure_windows",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("started", sa.Float(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_failure_windows")),
    )
    op.create_index(
        op.f("ix_failure_windows_started"), "failure_windows", ["started"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_failure_windows_started"), table_name="failure_windows")
    op.drop_table("failure_windows")
