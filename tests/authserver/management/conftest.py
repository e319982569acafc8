"""A caller of the management API: a machine client granted chosen management scopes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.authserver.conftest import AuthServer
from timesheets.authserver import admin


@dataclass
class Management:
    """The running server, its management audience, and tokens for it."""

    server: AuthServer
    audience: str

    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client of the server."""
        return self.server.http

    async def token(
        self, scopes: Iterable[str] = tuple(admin.MANAGEMENT_SCOPES), name: str = ""
    ) -> str:
        """An access token of a new machine client granted `scopes` of the management API."""
        wanted = sorted(scopes)
        client = await self.server.tenant.machine_client(
            {self.audience: wanted}, name=name or f"Automation {len(wanted)} {id(wanted)}"
        )
        answer = await client.request_token(self.http, self.audience)
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    async def call(self, method: str, path: str, token: str, **options: Any) -> httpx.Response:
        """A request to `/api/v2/<path>` with the token."""
        headers = {"Authorization": f"Bearer {token}", **options.pop("headers", {})}
        return await self.http.request(method, f"/api/v2/{path}", headers=headers, **options)


@pytest.fixture
async def management(auth_server: AuthServer) -> Management:
    """The management API of a running server, on SQLite and on PostgreSQL."""
    return Management(auth_server, auth_server.url + "/api/v2/")
