"""Who may use the console: signed out -> the sign-in page; signed in without the Admin
role -> 403 and nothing else; every form needs its CSRF token from our own origin."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import update

from tests.authserver.console.conftest import (
    ADMIN_EMAIL,
    EMPLOYEE_EMAIL,
    PASSWORD,
    Console,
)
from timesheets.authserver import people
from timesheets.authserver.console import ROUTERS as CONSOLE_ROUTERS
from timesheets.authserver.models import LoginSession

PAGES = [
    "/admin",
    "/admin/apis",
    "/admin/apis/new",
    "/admin/applications",
    "/admin/applications/new",
    "/admin/users",
    "/admin/users/new",
    "/admin/roles",
    "/admin/keys",
    "/admin/audit?kind=api.created",
]
#: A form of every kind of change, with values that would succeed.
CHANGES = [
    (
        "/admin/apis",
        {
            "name": "X",
            "identifier": "https://x.test",
            "signing_alg": "RS256",
            "token_lifetime": "3600",
            "scopes": "read:x Read",
        },
    ),
    ("/admin/applications", {"name": "Job", "app_type": "machine"}),
    (
        "/admin/users",
        {"email": "new@abc.example", "name": "New", "password": PASSWORD, "user_type": "Employee"},
    ),
    ("/admin/roles", {"name": "Manager"}),
    ("/admin/keys/rotate", {"alg": "RS256"}),
]

FORMS = dict(CHANGES)
#: Every form the console accepts (from its route table; an id in a path is made up).
POSTED = sorted(
    re.sub(r"\{[a-z_]+\}", "1", route.path)
    for part in CONSOLE_ROUTERS
    for route in part.routes
    if isinstance(route, APIRoute) and "POST" in route.methods
)


def test_the_console_posts_forms_of_every_kind() -> None:
    assert {path for path, _form in CHANGES} <= set(POSTED)
    assert len(POSTED) >= 20


async def test_signed_out_goes_to_sign_in_and_back_to_console_pages_only(console: Console) -> None:
    for path in PAGES:
        answer = await console.guest.http.get(path)
        assert answer.status_code == 303, path
        location = urlsplit(answer.headers["location"])
        assert location.path == "/admin/login"
        assert parse_qs(location.query)["next"] == [path]
    for path, form in CHANGES:
        answer = await console.guest.post(path, form)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/login?next=%2Fadmin"
    signed_in = await console.guest.sign_in(ADMIN_EMAIL, next_path="/admin/keys")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/admin/keys"
    assert "Signing keys" in await console.guest.page("/admin/keys")
    for target in ("https://evil.example/admin", "//evil.example/admin", "/authorize", "/adminx"):
        answer = await console.guest.sign_in(ADMIN_EMAIL, next_path=target)
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/admin", target


async def test_wrong_passwords_are_refused_next_to_the_field_then_throttled(
    console: Console,
) -> None:
    before = await console.server.tenant.row_counts()
    answer = await console.guest.sign_in(ADMIN_EMAIL, "wrong password")
    assert answer.status_code == 401
    assert "ts_session" not in answer.cookies
    assert 'id="login-error"' in answer.text
    assert 'aria-describedby="login-error"' in answer.text
    assert "Wrong email or password." in answer.text
    await console.unchanged(before)
    assert (await console.guest.http.get("/admin/apis")).status_code == 303
    # Failures count per account and per address: one above, the rest here.
    limit = console.server.settings.login_failure_limit
    for _ in range(limit - 1):
        assert (await console.guest.sign_in(EMPLOYEE_EMAIL, "wrong")).status_code == 401
    throttled = await console.guest.sign_in(EMPLOYEE_EMAIL)  # even the right password
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert "Too many sign-in attempts" in throttled.text


async def _second_admin_disables_the_first(session: Any) -> None:
    # The last enabled administrator cannot be disabled (people.py): a second one is made.
    await people.create_user(session, email="bo@abc.example", name="Bo", password=PASSWORD)
    await people.assign_role(session, "bo@abc.example", people.ADMIN_ROLE)
    await people.set_enabled(session, ADMIN_EMAIL, False)


async def test_users_without_the_admin_role_or_disabled_are_refused(console: Console) -> None:
    signed_in = await console.guest.sign_in(EMPLOYEE_EMAIL)
    assert signed_in.status_code == 303  # a valid sign-in; the role is checked on each page
    for path in PAGES:
        page = await console.guest.page(path, 403)
        assert "You need the Admin role" in page
        assert EMPLOYEE_EMAIL in page
        assert 'href="/admin/apis"' not in page  # no navigation, no data
        assert ADMIN_EMAIL not in page
    before = await console.server.tenant.row_counts()
    for path, form in CHANGES:
        assert (await console.guest.post(path, form)).status_code == 403
    await console.unchanged(before)
    await console.server.tenant.run(_second_admin_disables_the_first)
    assert (await console.admin.http.get("/admin/apis")).status_code == 303
    answer = await console.admin.sign_in(ADMIN_EMAIL)
    assert answer.status_code == 401


async def test_forms_need_the_csrf_token_of_our_own_origin(console: Console) -> None:
    before = await console.server.tenant.row_counts()
    good = await console.admin.csrf()
    session = console.admin.http.cookies["ts_session"]
    # The session is checked before the CSRF token: a session lost here would answer the
    # forms below with the sign-in redirect instead.
    assert (await console.admin.http.get("/admin/apis")).status_code == 200
    # The token is hex: its last digit changed, it is certainly another (a fixed "00"
    # ending was the token itself once in 256 runs).
    forged = good[:-1] + ("1" if good.endswith("0") else "0")
    assert forged != good
    for path in POSTED:
        form = dict(FORMS.get(path, {}))
        missing = await console.admin.http.post(path, data=form)
        wrong = await console.admin.http.post(path, data=form | {"csrf": forged})
        elsewhere = await console.admin.http.post(
            path, data=form | {"csrf": good}, headers={"Origin": "https://evil.example"}
        )
        for answer in (missing, wrong, elsewhere):
            context = (path, answer.status_code, answer.headers.get("location"), answer.text)
            assert answer.status_code == 403, context
            assert "Request refused" in answer.text
    await console.unchanged(before)
    # Another browser (signed in, but without the CSRF cookie the token belongs to):
    other = httpx.AsyncClient(base_url=console.server.url, cookies={"ts_session": session})
    async with other:
        answer = await other.post("/admin/roles", data={"name": "Manager", "csrf": good})
    assert answer.status_code == 403
    await console.unchanged(before)


async def test_pages_are_not_framed_cached_or_scripted_and_sign_out_ends_the_session(
    console: Console,
) -> None:
    for path in [*PAGES[1:], "/admin/login"]:
        answer = await console.admin.http.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert "script-src" not in answer.headers["content-security-policy"]  # default 'none'
        assert answer.headers["cache-control"] == "no-store"
        assert "<script" not in answer.text
    answer = await console.admin.post("/admin/logout")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login"
    assert (await console.admin.http.get("/admin/apis")).status_code == 303
    assert "You are signed out." in await console.admin.page("/admin/login")


async def _expire_sessions(session: Any) -> None:
    ended = datetime.now(UTC) - timedelta(seconds=1)
    await session.execute(update(LoginSession).values(expires_at=ended))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (None, "unknown session"),
        (_expire_sessions, "expired session"),
        (_second_admin_disables_the_first, "user disabled"),
    ],
)
async def test_a_session_that_signs_no_one_in_goes_to_sign_in_and_says_why(
    console: Console, caplog: pytest.LogCaptureFixture, change: Any, reason: str
) -> None:
    assert (await console.admin.http.get("/admin/apis")).status_code == 200
    if change is None:
        console.admin.http.cookies.clear()
        console.admin.http.cookies.set("ts_session", "x" * 43)
    else:
        await console.server.tenant.run(change)
    caplog.set_level(logging.INFO, logger="timesheets.authserver.login")
    answer = await console.admin.http.get("/admin/apis")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/admin/login")
    refused = [r for r in caplog.records if r.getMessage() == "session cookie refused"]
    assert [getattr(r, "reason", None) for r in refused] == [reason]
    assert getattr(refused[0], "user_id", None) == (
        None if change is None else console.admin.user_id
    )
