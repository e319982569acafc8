"""security audit log and the tenant revision counter

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "security_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
    )
    op.create_index(
        op.f("ix_security_events_occurred_at"), "security_events", ["occurred_at"], unique=False
    )
    op.create_index("ix_security_events_kind_id", "security_events", ["kind", "id"])
    op.create_index("ix_security_events_subject_id", "security_events", ["subject", "id"])
    op.create_index("ix_security_events_actor_id", "security_events", ["actor", "id"])
    revision_table = op.create_table(
        "tenant_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", _ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_revision")),
    )
    op.bulk_insert(revision_table, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("tenant_revision")
    op.drop_index("ix_security_events_actor_id", table_name="security_events")
    op.drop_index("ix_security_events_subject_id", table_name="security_events")
    op.drop_index("ix_security_events_kind_id", table_name="security_events")
    op.drop_index(op.f("ix_security_events_occurred_at"), table_name="security_events")
    op.drop_table("security_events")
