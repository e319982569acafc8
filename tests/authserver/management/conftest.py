"""A caller of the management API: a machine client granted chosen management scopes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.authserver.conftest import AuthServer
from tests.authserver.flows import authorize_and_login, exchange_code, pkce_pair
from timesheets.authserver import admin, people

REDIRECT = "https://console-spa.example/callback"
PASSWORD = "correct horse battery staple"


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

    async def person_token(self, scopes: Iterable[str], email: str = "pat@abc.example") -> str:
        """An access token of a person whose role permits `scopes` of the management API,
        from the authorization code flow of an SPA granted them."""
        wanted = sorted(scopes)

        async def work(session: Any) -> str:
            spa = await admin.create_client(
                session, name=f"SPA {email}", app_type="spa", redirect_uris=(REDIRECT,)
            )
            await admin.add_grant(session, spa.client.client_id, self.audience, wanted)
            await people.create_role(session, f"Role {email}", permissions={self.audience: wanted})
            await people.create_user(session, email=email, name="Pat", password=PASSWORD)
            await people.assign_role(session, email, f"Role {email}")
            return spa.client.client_id

        client_id: str = await self.server.tenant.run(work)
        verifier, challenge = pkce_pair()
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": " ".join(wanted),
            "audience": self.audience,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        async with httpx.AsyncClient(base_url=self.server.url) as browser:
            result = await authorize_and_login(browser, query, email, PASSWORD)
            answer = await exchange_code(
                browser, result.params["code"], client_id, REDIRECT, verifier
            )
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
