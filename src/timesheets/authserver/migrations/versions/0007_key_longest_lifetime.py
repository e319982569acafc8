"""signing keys record the longest token lifetime they may have signed with

Keys not yet rotated out start with the longest lifetime of any API today.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("longest_lifetime", sa.Integer(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE signing_keys SET longest_lifetime ="
        " (SELECT COALESCE(MAX(token_lifetime), 0) FROM resource_servers)"
        " WHERE deactivated_at IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_column("longest_lifetime")
