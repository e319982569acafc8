"""at most one current and one next signing key per algorithm

Before this, processes that signed with a new algorithm at the same moment could each
make a current and a next key. The extra keys are settled first: of several current keys
the most recently activated one stays current and the others become previous keys,
published for the longest token lifetime an API can have (they may have signed tokens);
of several next keys the oldest stays and the others, which never signed, are removed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LONGEST_TOKEN_LIFETIME = timedelta(days=30)  # admin.MAX_LIFETIME when this was written
_CURRENT = "activated_at IS NOT NULL AND deactivated_at IS NULL"
_NEXT = "activated_at IS NULL"

keys = sa.table(
    "signing_keys",
    sa.column("kid", sa.String),
    sa.column("alg", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("activated_at", sa.DateTime(timezone=True)),
    sa.column("deactivated_at", sa.DateTime(timezone=True)),
    sa.column("retire_at", sa.DateTime(timezone=True)),
)


def _settle_duplicates() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(keys.c.kid, keys.c.alg, keys.c.activated_at, keys.c.deactivated_at).order_by(
            keys.c.created_at, keys.c.kid
        )
    ).all()
    now = datetime.now(UTC)
    seen_current: set[str] = set()
    seen_next: set[str] = set()
    current = [r for r in rows if r.activated_at is not None and r.deactivated_at is None]
    for row in sorted(current, key=lambda r: r.activated_at, reverse=True):
        if row.alg in seen_current:
            connection.execute(
                keys.update()
                .where(keys.c.kid == row.kid)
                .values(deactivated_at=now, retire_at=now + _LONGEST_TOKEN_LIFETIME)
            )
        seen_current.add(row.alg)
    for row in rows:
        if row.activated_at is None:
            if row.alg in seen_next:
                connection.execute(keys.delete().where(keys.c.kid == row.kid))
            seen_next.add(row.alg)


def upgrade() -> None:
    _settle_duplicates()
    for name, where in (("current", _CURRENT), ("next", _NEXT)):
        op.create_index(
            f"uq_signing_keys_one_{name}",
            "signing_keys",
            ["alg"],
            unique=True,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    op.drop_index("uq_signing_keys_one_next", table_name="signing_keys")
    op.drop_index("uq_signing_keys_one_current", table_name="signing_keys")
