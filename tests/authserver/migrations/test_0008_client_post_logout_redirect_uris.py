"""Migration 0008: clients get post-logout redirect URIs, their web origins at first
(so that existing sign-outs keep working); down again, the column goes. SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from timesheets import db
from timesheets.authserver.app import MIGRATIONS

INSERT = text(
    "INSERT INTO clients (client_id, name, app_type, token_endpoint_auth_method, grant_types,"
    " redirect_uris, web_origins, created_at) VALUES (:id, :name, 'spa', 'none',"
    " '[\"authorization_code\"]', '[\"https://app.test/callback\"]', :origins,"
    " '2026-12-01 00:00:00')"
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The authorization server's database at revision 0007."""
    engine = db.create_engine(database_url)
    await db.upgrade(engine, MIGRATIONS, "0007")
    yield engine
    await engine.dispose()


def _migrate(connection: Connection, revision: str) -> None:
    config = db._alembic_config(MIGRATIONS, connection)
    if revision == "0007":
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


def _uris(connection: Connection) -> dict[str, list[str]]:
    rows = connection.execute(
        text("SELECT client_id, post_logout_redirect_uris FROM clients ORDER BY client_id")
    )
    return {cid: value if isinstance(value, list) else json.loads(value) for cid, value in rows}


def _columns(connection: Connection) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns("clients")}


async def test_0008_copies_web_origins_and_downgrades(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            INSERT, {"id": "old-spa-01", "name": "Old", "origins": '["https://app.test"]'}
        )
        await connection.execute(INSERT, {"id": "old-job-01", "name": "Job", "origins": "[]"})
        await connection.run_sync(_migrate, "0008")
        upgraded = await connection.run_sync(_uris)
        await connection.execute(INSERT, {"id": "new-spa-01", "name": "New", "origins": "[]"})
        with_new = await connection.run_sync(_uris)
        await connection.run_sync(_migrate, "0007")
        downgraded = await connection.run_sync(_columns)
    assert upgraded == {"old-job-01": [], "old-spa-01": ["https://app.test"]}
    assert with_new["new-spa-01"] == []
    assert "post_logout_redirect_uris" not in downgraded
