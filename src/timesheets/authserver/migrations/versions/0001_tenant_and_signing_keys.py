"""tenant and signing keys

Revision ID: 0001
Revises:
Create Date: 2026-11-29 05:13:07.278391
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
        "clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("app_type", sa.String(length=20), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(length=40), nullable=False),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("web_origins", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_clients")),
        sa.UniqueConstraint("name", name=op.f("uq_clients_name")),
    )
    op.create_table(
        "resource_servers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("identifier", sa.String(length=600), nullable=False),
        sa.Column("signing_alg", sa.String(length=10), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=True),
        sa.Column("token_lifetime", sa.Integer(), nullable=False),
        sa.Column("permissions_claim", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_servers")),
        sa.UniqueConstraint("identifier", name=op.f("uq_resource_servers_identifier")),
        sa.UniqueConstraint("name", name=op.f("uq_resource_servers_name")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=10), nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retire_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signing_keys_alg"), ["alg"], unique=False)

    op.create_table(
        "client_grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("resource_server_id", sa.String(length=32), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name=op.f("fk_client_grants_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_server_id"],
            ["resource_servers.id"],
            name=op.f("fk_client_grants_resource_server_id_resource_servers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_grants")),
        sa.UniqueConstraint(
            "client_id", "resource_server_id", name=op.f("uq_client_grants_client_id")
        ),
    )
    with op.batch_alter_table("client_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_grants_client_id"), ["client_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_client_grants_resource_server_id"), ["resource_server_id"], unique=False
        )

    op.create_table(
        "client_secrets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name=op.f("fk_client_secrets_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_secrets")),
    )
    with op.batch_alter_table("client_secrets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_secrets_client_id"), ["client_id"], unique=False
        )

    op.create_table(
        "scopes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resource_server_id", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=280), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_server_id"],
            ["resource_servers.id"],
            name=op.f("fk_scopes_resource_server_id_resource_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scopes")),
        sa.UniqueConstraint(
            "resource_server_id", "value", name=op.f("uq_scopes_resource_server_id")
        ),
    )
    with op.batch_alter_table("scopes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scopes_resource_server_id"), ["resource_server_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("scopes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scopes_resource_server_id"))

    op.drop_table("scopes")
    with op.batch_alter_table("client_secrets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_secrets_client_id"))

    op.drop_table("client_secrets")
    with op.batch_alter_table("client_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_grants_resource_server_id"))
        batch_op.drop_index(batch_op.f("ix_client_grants_client_id"))

    op.drop_table("client_grants")
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signing_keys_alg"))

    op.drop_table("signing_keys")
    op.drop_table("resource_servers")
    op.drop_table("clients")
