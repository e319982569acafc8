"""Fixtures for the Timesheets API: a test issuer and the API served on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.issuer import TestIssuer
from tests.live import LiveServer, serve_in_thread
from tests.pg import PostgresServer, free_port
from timesheets import db
from timesheets.api import repository as repo
from timesheets.api.app import MIGRATIONS, create_app, create_context
from timesheets.api.context import ApiContext
from timesheets.api.models import Base
from timesheets.bearer.claims import Principal
from timesheets.settings import ApiSettings

#: An importer's client-credentials token, for calling the use cases directly.
MACHINE = Principal(
    subject="importer@clients",
    client_id="importer",
    scopes=frozenset({"batch:upload", "create:timesheets"}),
    claims={"gty": "client-credentials"},
)


@pytest.fixture
def issuer() -> Iterator[TestIssuer]:
    """A running test issuer with one RSA key."""
    test_issuer = TestIssuer().start()
    yield test_issuer
    test_issuer.stop()


@dataclass
class Api:
    """The running API, its settings, an HTTP client and a database probe."""

    live: LiveServer
    settings: ApiSettings
    issuer: TestIssuer
    http: httpx.AsyncClient

    async def row_counts(self) -> dict[str, int]:
        """Rows per table, to prove that a refused request stored nothing."""
        engine = db.create_engine(self.settings.database_url)
        try:
            async with engine.connect() as connection:
                return {
                    table.name: int(
                        await connection.scalar(select(func.count()).select_from(table)) or 0
                    )
                    for table in Base.metadata.sorted_tables
                }
        finally:
            await engine.dispose()

    def auth(self, token: str | None = None) -> dict[str, str]:
        """An Authorization header with the token (a valid machine token by default)."""
        return {"Authorization": f"Bearer {token or self.issuer.token()}"}


@pytest.fixture
def make_api_settings(tmp_path: Path) -> Callable[..., ApiSettings]:
    """API settings for a test issuer and a database; keyword arguments override."""

    def make(issuer: TestIssuer, database_url: str, **overrides: Any) -> ApiSettings:
        values: dict[str, Any] = {
            "issuer": issuer.url,
            "audience": issuer.audience,
            "database_url": database_url,
            "data_dir": tmp_path,
            "port": free_port(),
        }
        return ApiSettings(**(values | overrides))

    return make


@contextlib.asynccontextmanager
async def serving(issuer: TestIssuer, settings: ApiSettings) -> AsyncIterator[Api]:
    """The Timesheets API with these settings on their loopback port."""
    live = serve_in_thread(create_app(settings), settings.port)
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
            yield Api(live, settings, issuer, http)
    finally:
        live.stop()


@pytest.fixture
async def api(
    issuer: TestIssuer, database_url: str, make_api_settings: Callable[..., ApiSettings]
) -> AsyncIterator[Api]:
    """The Timesheets API on a free loopback port, on SQLite and on PostgreSQL."""
    async with serving(issuer, make_api_settings(issuer, database_url)) as served:
        yield served


@pytest.fixture
async def context(database_url: str, tmp_path: Path) -> AsyncIterator[ApiContext]:
    """An API process's state on a fresh, migrated database."""
    settings = ApiSettings(
        issuer="http://127.0.0.1:9/",
        audience="https://timesheets",
        database_url=database_url,
        data_dir=tmp_path,
    )
    state = create_context(settings)
    await db.upgrade(state.engine, MIGRATIONS)
    yield state
    await state.writer.close()
    await state.http.aclose()
    await state.engine.dispose()


@pytest.fixture
def cap_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of entries each hour-cap read (`repository._totals`) is made for."""
    reads: list[int] = []
    totals = repo._totals

    def counted(connection: Any, batch: list[repo.NewEntry]) -> Any:
        reads.append(len(batch))
        return totals(connection, batch)

    monkeypatch.setattr(repo, "_totals", counted)
    return reads


async def counts(engine: AsyncEngine) -> list[int]:
    """Committed entries, audit events and idempotency records."""
    async with engine.connect() as connection:
        return [
            int(await connection.scalar(select(func.count()).select_from(table)) or 0)
            for table in (repo.entries, repo.audit, repo.idempotency)
        ]


@contextlib.asynccontextmanager
async def migrated_database(pg_server: PostgresServer) -> AsyncIterator[AsyncEngine]:
    """A fresh PostgreSQL database migrated to head (the tables and migration 0005's
    function), disposed of at the end."""
    engine = db.create_engine(pg_server.new_database())
    await db.upgrade(engine, MIGRATIONS)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def migrated(pg_server: PostgresServer) -> AsyncIterator[AsyncEngine]:
    """A fresh PostgreSQL database migrated to head."""
    async with migrated_database(pg_server) as engine:
        yield engine


@pytest.fixture
async def raw(migrated: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """An asyncpg connection of its own to that database, outside any transaction."""
    url = migrated.url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(url)
    yield connection
    with contextlib.suppress(asyncpg.InterfaceError, OSError):
        await connection.close(timeout=5)
