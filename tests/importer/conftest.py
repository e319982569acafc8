"""Fixtures of the import job's tests: the people file, and a real authorization server and
Timesheets API served in-process on loopback, configured for the job's machine client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.authserver.conftest import AUDIENCE, AuthServer, MachineClient, auth_server
from tests.live import LiveServer, serve_in_thread
from tests.pg import PostgresServer, free_port
from timesheets import db
from timesheets.api.app import create_app
from timesheets.api.repository import entries
from timesheets.importer.config import ImportConfig
from timesheets.importer.mapping import PeopleMap
from timesheets.settings import ApiSettings

from . import FIXTURES

__all__ = ["auth_server"]  # the authorization server fixture, shared with these tests

JOB_SCOPES = ["create:timesheets", "batch:upload"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the `slow` marker (the million-row test; deselect with -m "not slow")."""
    config.addinivalue_line("markers", "slow: long-running test, deselect with -m 'not slow'")


@pytest.fixture
def people() -> PeopleMap:
    """The fixtures' people file: Dana and Zoë (contractors) and Lee (employee)."""
    return PeopleMap.load(FIXTURES / "people.csv")


@pytest.fixture
def api_database_url(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database for the API of the same kind as the authorization server's, but its own."""
    if database_url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.new_database()


@dataclass
class Platform:
    """A running authorization server and API, and the import job's client on them."""

    auth: AuthServer
    api: LiveServer
    api_settings: ApiSettings
    job: MachineClient

    @property
    def api_url(self) -> str:
        """The API's base URL."""
        return self.api.url

    def config(self, **overrides: object) -> ImportConfig:
        """The job's configuration for this platform (keyword arguments override)."""
        values: dict[str, object] = {
            "issuer": self.auth.url,
            "audience": AUDIENCE,
            "api_url": self.api_url,
            "client_id": self.job.client_id,
            "client_secret": self.job.secret,
        }
        return ImportConfig(**(values | overrides))  # type: ignore[arg-type]

    async def entry_count(self) -> int:
        """Rows of the API's entries table, read from its database."""
        engine = db.create_engine(self.api_settings.database_url)
        try:
            async with engine.connect() as connection:
                return int(await connection.scalar(select(func.count()).select_from(entries)) or 0)
        finally:
            await engine.dispose()

    async def stored(self) -> list[dict[str, object]]:
        """Every row of the API's entries table (external id, week, hours...)."""
        engine = db.create_engine(self.api_settings.database_url)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(select(entries))
                return [dict(row) for row in result.mappings()]
        finally:
            await engine.dispose()


@pytest.fixture
async def platform(
    auth_server: AuthServer, api_database_url: str, tmp_path: Path
) -> AsyncIterator[Platform]:
    """The authorization server with the API registered, the job's machine client granted
    create:timesheets and batch:upload, and the Timesheets API trusting that issuer."""
    await auth_server.tenant.create_api(AUDIENCE, name="Timesheets API")
    job = await auth_server.tenant.machine_client({AUDIENCE: JOB_SCOPES})
    settings = ApiSettings(
        issuer=auth_server.url,
        audience=AUDIENCE,
        database_url=api_database_url,
        data_dir=tmp_path / "api",
        port=free_port(),
    )
    live = serve_in_thread(create_app(settings), settings.port)
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
            assert (await http.get("/healthz")).status_code == 200
        yield Platform(auth_server, live, settings, job)
    finally:
        live.stop()
