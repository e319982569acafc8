"""entries, audit events and idempotency keys

Revision ID: 0001
Revises:
Create Date: 2026-11-29 05:20:56.294723
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entry", ["entry_id", "id"], unique=False)

    op.create_table(
        "entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("user_type", sa.String(length=20), nullable=False),
        sa.Column("project", sa.String(length=200), nullable=False),
        sa.Column("hundredths", sa.Integer(), nullable=False),
        sa.Column("iso_year", sa.Integer(), nullable=False),
        sa.Column("iso_week", sa.Integer(), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_subject", sa.String(length=200), nullable=False),
        sa.Column("created_by_client", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
        sa.UniqueConstraint(
            "created_by_client", "created_by_subject", "external_id", name="uq_entries_external"
        ),
    )
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index("ix_entries_created", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_entries_project", ["project"], unique=False)
        batch_op.create_index(
            "ix_entries_status_created", ["status", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_entries_user_date", ["user_id", "entry_date"], unique=False)
        batch_op.create_index(
            "ix_entries_user_week", ["user_id", "iso_year", "iso_week"], unique=False
        )

    op.create_table(
        "idempotency_keys",
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject", "key", name=op.f("pk_idempotency_keys")),
    )


def downgrade() -> None:

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index("ix_entries_user_week")
        batch_op.drop_index("ix_entries_user_date")
        batch_op.drop_index("ix_entries_status_created")
        batch_op.drop_index("ix_entries_project")
        batch_op.drop_index("ix_entries_created")

    op.drop_table("entries")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entry")

    op.drop_table("audit_events")
