"""external ids are unique in a partial index: entries without one are not in it

uq_entries_external was a table constraint, so every entry wrote to its index, the many
without an external id (everything but the import's uploads) included. A unique index
`WHERE external_id IS NOT NULL` refuses the same duplicates (NULLs never clash in either
database's unique indexes), and the upload's lookup (`external_id IN (...)`) implies its
predicate, so both databases still read it there. A create without an external id then
writes one B-tree fewer, and a commit fewer pages.

On PostgreSQL the index is built under another name, the constraint (and its index) is
dropped, and the new index takes the old name; writes to entries wait for the build,
reads go on. On SQLite a table constraint can only go with the table: batch mode copies
the table, its rows and its other indexes, as it is.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "uq_entries_external"
KEY = ["created_by_client", "created_by_subject", "external_id"]
EXTERNAL = "external_id IS NOT NULL"


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        where = sa.text(EXTERNAL)
        op.create_index(f"{NAME}_next", "entries", KEY, unique=True, postgresql_where=where)
        op.drop_constraint(NAME, "entries", type_="unique")
        op.execute(f"ALTER INDEX {NAME}_next RENAME TO {NAME}")
        return
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_constraint(NAME, type_="unique")
        batch_op.create_index(NAME, KEY, unique=True, sqlite_where=sa.text(EXTERNAL))


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.drop_index(NAME, table_name="entries")
        op.create_unique_constraint(NAME, "entries", KEY)
        return
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index(NAME)
        batch_op.create_unique_constraint(NAME, KEY)
