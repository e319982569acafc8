"""The admin console over HTTP: a browser-like client signed in as an administrator."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.authserver.conftest import AuthServer
from timesheets.authserver import audit, people

PASSWORD = "console test password"
ADMIN_EMAIL = "ada@abc.example"
EMPLOYEE_EMAIL = "erin@abc.example"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
VERSION = re.compile(r'name="version" value="([^"]*)"')


def form_of(page: str, action: str) -> str:
    """The HTML of the page's form that posts to `action`."""
    found = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', page, re.S)
    assert found, f"no form posting to {action}"
    return found.group(0)


def version_of(page: str, action: str) -> str:
    """The version carried by the page's form that posts to `action`."""
    found = VERSION.search(form_of(page, action))
    assert found, f"no version in the form posting to {action}"
    return html.unescape(found.group(1))


def field_error(page: str, form: str, name: str) -> str:
    """The message shown next to an input, after checking the input points at it."""
    error_id = f"{form}-{name}-error"
    found = re.search(rf'<p class="field-error" id="{error_id}">([^<]*)</p>', page)
    assert found, f"no error next to {form}/{name}"
    control = re.search(rf'<(?:input|textarea|select|fieldset)[^>]*id="{form}-{name}"[^>]*>', page)
    fieldset = re.search(rf'<fieldset[^>]*aria-describedby="[^"]*{error_id}[^"]*"', page)
    assert (control and error_id in control.group(0)) or fieldset, "input not described by error"
    return html.unescape(found.group(1))


@dataclass
class Browser:
    """An HTTP client that keeps cookies and posts forms with the CSRF token of a page."""

    http: httpx.AsyncClient
    user_id: str = ""

    async def page(self, path: str, status: int = 200) -> str:
        """GET a page, expecting `status`."""
        response = await self.http.get(path)
        assert response.status_code == status, (path, response.status_code, response.text)
        return response.text

    async def csrf(self) -> str:
        """A valid CSRF token (from the sign-in page, which needs no session)."""
        found = CSRF.search(await self.page("/admin/login"))
        assert found is not None
        return found.group(1)

    async def post(
        self, path: str, form: dict[str, str | list[str]] | None = None, **options: Any
    ) -> httpx.Response:
        """POST a form (a list value repeats its field) with a valid CSRF token."""
        pairs = [("csrf", await self.csrf())]
        for name, value in (form or {}).items():
            pairs += [(name, item) for item in (value if isinstance(value, list) else [value])]
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        headers |= options.pop("headers", {})
        return await self.http.post(path, content=urlencode(pairs), headers=headers, **options)

    async def edit(
        self, action: str, form: dict[str, str | list[str]], on: str | None = None
    ) -> httpx.Response:
        """Open the page `on` (by default `action`) and post its form to `action` with the
        version it shows, as a browser would."""
        version = version_of(await self.page(on or action), action)
        return await self.post(action, form | {"version": version})

    async def sign_in(
        self, email: str, password: str = PASSWORD, next_path: str = "/admin"
    ) -> httpx.Response:
        """Sign in through the console's form."""
        return await self.post(
            "/admin/login", {"email": email, "password": password, "next": next_path}
        )


@dataclass
class Console:
    """The server, an administrator signed in, and a signed-out browser."""

    server: AuthServer
    admin: Browser
    guest: Browser

    async def audited(self, kind: str) -> list[dict[str, Any]]:
        """The audit events of a kind attributed to the signed-in administrator."""
        filters = audit.Filters(kinds=(kind,), actor=f"user:{self.admin.user_id}")

        async def work(session: Any) -> list[dict[str, Any]]:
            return [audit.event_json(event) for event in await audit.events(session, filters)]

        found: list[dict[str, Any]] = await self.server.tenant.run(work)
        assert found, f"no {kind} event by user:{self.admin.user_id}"
        return found

    async def unchanged(self, before: dict[str, int]) -> None:
        """Nothing was stored since `before` (row counts per table)."""
        assert await self.server.tenant.row_counts() == before


async def _people(server: AuthServer) -> dict[str, str]:
    async def work(session: Any) -> dict[str, str]:
        await people.create_role(session, "Admin")
        await people.create_role(session, "Employee")
        ada = await people.create_user(session, email=ADMIN_EMAIL, name="Ada", password=PASSWORD)
        erin = await people.create_user(
            session, email=EMPLOYEE_EMAIL, name="Erin", password=PASSWORD
        )
        await people.assign_role(session, ada.id, "Admin")
        await people.assign_role(session, erin.id, "Employee")
        return {ADMIN_EMAIL: ada.id, EMPLOYEE_EMAIL: erin.id}

    ids: dict[str, str] = await server.tenant.run(work)
    return ids


@pytest.fixture
async def console(auth_server: AuthServer) -> AsyncIterator[Console]:
    """An administrator signed in to the console, and a browser with no session."""
    ids = await _people(auth_server)
    async with (
        httpx.AsyncClient(base_url=auth_server.url, timeout=30) as admin_http,
        httpx.AsyncClient(base_url=auth_server.url, timeout=30) as guest_http,
    ):
        admin = Browser(admin_http, ids[ADMIN_EMAIL])
        signed_in = await admin.sign_in(ADMIN_EMAIL)
        assert signed_in.status_code == 303, signed_in.text
        yield Console(auth_server, admin, Browser(guest_http, ids[EMPLOYEE_EMAIL]))
