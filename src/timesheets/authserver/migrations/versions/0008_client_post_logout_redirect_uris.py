"""clients register the URIs a logout may return to

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 16:40:00

Until now a logout returned to any web origin or redirect URI of the client; its web
origins become its post-logout redirect URIs, so that a client returning to its origin
(as the web app does) keeps signing out as before. A client that returned to a redirect
URI must register it as a post-logout redirect URI.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "post_logout_redirect_uris",
                sa.JSON(),
                server_default=sa.text("'[]'"),
                nullable=False,
            )
        )
    op.execute("UPDATE clients SET post_logout_redirect_uris = web_origins")


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("post_logout_redirect_uris")
