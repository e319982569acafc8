"""Fixtures for the authorization server: a running server and a tenant to configure."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.live import LiveServer, serve_in_thread
from timesheets import db
from timesheets.authserver import admin
from timesheets.authserver.app import create_app, create_runtime, prepare
from timesheets.authserver.models import Base, ResourceServer
from timesheets.authserver.runtime import Runtime
from timesheets.authserver.store import load_keys
from timesheets.settings import AuthServerSettings

ALL_SCOPES = {
    "read:timesheets": "Read timesheets",
    "create:timesheets": "Create timesheets",
    "delete:timesheets": "Delete timesheets",
    "approve:timesheets": "Approve timesheets",
    "batch:upload": "Upload timesheets in batch",
}
AUDIENCE = "https://api.timesheets.test"


@dataclass
class MachineClient:
    """A registered confidential client and its secret."""

    client_id: str
    secret: str

    async def request_token(
        self, http: httpx.AsyncClient, audience: str = AUDIENCE, secret: str | None = None
    ) -> httpx.Response:
        """POST /oauth/token: the client credentials grant, the secret in the body."""
        return await http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.secret if secret is None else secret,
                "audience": audience,
            },
        )


class Tenant:
    """Configures the tenant in the same database the server uses, through the admin rules."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def create_api(self, identifier: str = AUDIENCE, **options: Any) -> admin.CreatedApi:
        """Register an API (all five scopes unless given)."""
        options.setdefault("name", identifier)
        options.setdefault("scopes", ALL_SCOPES)
        async with self.runtime.sessions() as session, session.begin():
            return await admin.create_api(
                session, self.runtime.sealer, identifier=identifier, **options
            )

    async def machine_client(
        self,
        grants: dict[str, list[str]] | None = None,
        *,
        name: str = "Import Job",
        auth_method: str = "client_secret_post",
        **options: Any,
    ) -> MachineClient:
        """Register a machine client with grants {api identifier: scopes}."""
        async with self.runtime.sessions() as session, session.begin():
            created = await admin.create_client(
                session, name=name, app_type="machine", auth_method=auth_method, **options
            )
            for api, scopes in (grants or {}).items():
                await admin.add_grant(session, created.client.client_id, api, scopes)
        assert created.secret is not None
        return MachineClient(created.client.client_id, created.secret)

    async def run(self, work: Callable[[Any], Any]) -> Any:
        """Run `work(session)` in one transaction, SQLite's write lock taken first (as
        the server's own changes do), so it waits for the server's writes, not fails."""
        async with self.runtime.sessions() as session, session.begin():
            await session.connection(execution_options={db.IMMEDIATE: True})
            return await work(session)

    async def next_keys_published(self, seconds_ago: int) -> None:
        """Make the next signing keys look published `seconds_ago`, whenever the template
        database was made: a rotation waits `key_min_published_seconds` from then."""
        created_at = self.runtime.now() - timedelta(seconds=seconds_ago)

        async def move(session: Any) -> None:
            for row in await load_keys(session):
                if row.activated_at is None:
                    row.created_at = created_at

        await self.run(move)

    async def row_counts(self) -> dict[str, int]:
        """Rows per table, to prove that a refused request stored nothing.

        `failure_windows` and `security_events` are left out: counting a refused client
        or login there is the throttle and the audit log doing their work
        (tests/authserver/test_shared_throttle.py, test_audit.py), not stored data; so is
        `tenant_revision`. The built-in management API (its row and scopes, made at start)
        is not counted either: the counts are of what the tenant's administrators made.
        """
        await self.runtime.audit.flush()
        counts = {}
        async with self.runtime.sessions() as session:
            for table in Base.metadata.sorted_tables:
                if table.name in ("failure_windows", "security_events", "tenant_revision"):
                    continue
                counts[table.name] = await session.scalar(select(func.count()).select_from(table))
            system = await session.scalar(select(ResourceServer).where(ResourceServer.is_system))
        if system is not None:
            counts["resource_servers"] -= 1
            counts["scopes"] -= len(system.scopes)
        return counts


@dataclass
class AuthServer:
    """A running authorization server with its settings, a tenant handle and an HTTP client."""

    live: LiveServer
    settings: AuthServerSettings
    tenant: Tenant
    http: httpx.AsyncClient

    @property
    def url(self) -> str:
        """The server's base URL (its issuer)."""
        return self.live.url


#: A key-encryption key the test tenants' keys were not sealed with.
OTHER_KEK = "not-the-key-these-were-sealed-with-0123"


@contextlib.asynccontextmanager
async def other_key_encryption_key(server: AuthServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a second process on the server's database and issuer, started (not
    prepared) with another key-encryption key: one that cannot open the keys."""
    settings = server.settings.model_copy(update={"key_encryption_key": OTHER_KEK})
    app = create_app(settings, prepare_on_start=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=server.url) as http:
        yield http


_TEMPLATES: dict[str, str] = {}


async def _from_template(
    database_url: str, request: pytest.FixtureRequest, make: Callable[..., AuthServerSettings]
) -> None:
    """Fill an empty test database with a copy of a migrated tenant with keys.

    Migrating and generating RSA keys for every test costs about a second; each kind of
    database is prepared once per run and copied (SQLite file copy, PostgreSQL TEMPLATE).
    """
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    if kind not in _TEMPLATES:
        if kind == "sqlite":
            template_url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='ts-tpl-')}/auth.db"
        else:
            template_url = request.getfixturevalue("pg_server").new_database()
        runtime = create_runtime(make(template_url))
        await prepare(runtime)
        await runtime.engine.dispose()
        _TEMPLATES[kind] = template_url
    template = _TEMPLATES[kind]
    if kind == "sqlite":
        source = Path(template.split("///", 1)[1])
        target = Path(database_url.split("///", 1)[1])
        await asyncio.to_thread(shutil.copyfile, source, target)
        return
    server = request.getfixturevalue("pg_server")
    name = database_url.rsplit("/", 1)[1]
    server.psql(f'DROP DATABASE "{name}"')
    server.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template.rsplit("/", 1)[1]}"')


@pytest.fixture
async def auth_server(
    database_url: str,
    make_auth_settings: Callable[..., AuthServerSettings],
    request: pytest.FixtureRequest,
) -> AsyncIterator[AuthServer]:
    """The authorization server on a free loopback port, on SQLite and on PostgreSQL."""
    await _from_template(database_url, request, make_auth_settings)
    settings = make_auth_settings(database_url)
    live = serve_in_thread(create_app(settings), settings.port)
    runtime = create_runtime(settings)
    await prepare(runtime)
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        yield AuthServer(live, settings, Tenant(runtime), http)
    live.stop()
    await runtime.engine.dispose()


@pytest.fixture
async def tenant(
    database_url: str,
    make_auth_settings: Callable[..., AuthServerSettings],
    request: pytest.FixtureRequest,
) -> AsyncIterator[Tenant]:
    """A migrated, empty tenant without a server, on SQLite and on PostgreSQL."""
    await _from_template(database_url, request, make_auth_settings)
    runtime = create_runtime(make_auth_settings(database_url))
    await prepare(runtime)
    yield Tenant(runtime)
    await runtime.engine.dispose()
