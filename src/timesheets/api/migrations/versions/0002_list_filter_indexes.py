"""indexes for the list filters: a person and a project in list order, dates with status

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 02:22:34.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_entries_user_created", ["user_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_entries_project_created", ["project", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_entries_date_status", ["entry_date", "status"], unique=False)
        # (project, created_at, id) serves every lookup (project) did.
        batch_op.drop_index("ix_entries_project")


def downgrade() -> None:

    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index("ix_entries_project", ["project"], unique=False)
        batch_op.drop_index("ix_entries_date_status")
        batch_op.drop_index("ix_entries_project_created")
        batch_op.drop_index("ix_entries_user_created")
