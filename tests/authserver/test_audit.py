"""The security audit log (audit.py): changes recorded with their transaction, hot-path events
buffered, the revision that makes every process drop its caches, on SQLite and PostgreSQL."""

from __future__ import annotations

import ast
import asyncio
import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from tests.authserver.conftest import AUDIENCE, AuthServer, Tenant
from tests.authserver.flows import AUTHORIZE, CSRF, authorize_and_login, pkce_pair
from tests.authserver.routers.test_interaction import PASSWORD, _exchange, _query, _spa
from timesheets.authserver import admin, audit, people
from timesheets.authserver.app import create_runtime, prepare
from timesheets.authserver.models import SecurityEvent
from timesheets.authserver.oauth.client_auth import secret_matches
from timesheets.db import create_engine, session_factory
from timesheets.settings import AuthServerSettings


async def _events(tenant: Tenant, **filters: Any) -> list[dict[str, Any]]:
    async with tenant.runtime.sessions() as session:
        found = await audit.events(session, audit.Filters(**filters), limit=1000)
    return [audit.event_json(event) for event in found]


async def _wait_for(tenant: Tenant, count: int, **filters: Any) -> list[dict[str, Any]]:
    """The server writes hot-path events a moment later: wait (up to 20 s) for `count`."""
    deadline = time.monotonic() + 20
    while True:
        found = await _events(tenant, **filters)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_each_change_is_recorded_with_its_actor_and_raises_the_revision(
    tenant: Tenant,
) -> None:
    async with tenant.runtime.sessions() as session:
        before = await audit.revision(session)
    with audit.acting_as("cli:alice"):
        await tenant.create_api()
        client = await tenant.machine_client({AUDIENCE: ["batch:upload"]})

        async def rotate(session: Any) -> str:
            return await admin.rotate_secret(session, client.client_id, timedelta(0))

        secret = await tenant.run(rotate)

    events = await _events(tenant, actor="cli:alice")
    kinds = [event["kind"] for event in reversed(events)]
    assert kinds == ["api.created", "client.created", "grant.saved", "client.secret_rotated"]
    rotated = events[0]
    assert rotated["subject"] == client.client_id
    assert rotated["details"] == {"overlap_seconds": 0.0}
    text = json.dumps(events)
    assert client.secret not in text
    assert secret not in text
    async with tenant.runtime.sessions() as session:
        assert await audit.revision(session) == before + 4


async def test_a_refused_change_records_nothing(tenant: Tenant) -> None:
    await tenant.create_api()
    async with tenant.runtime.sessions() as session:
        before = (await audit.revision(session), await session.scalar(_count()))

    async def refused(session: Any) -> None:
        await admin.add_scope(session, AUDIENCE, "read:extra")
        await admin.add_scope(session, AUDIENCE, "read:extra")  # refused: the whole change

    with pytest.raises(admin.TenantError):
        await tenant.run(refused)
    async with tenant.runtime.sessions() as session:
        assert (await audit.revision(session), await session.scalar(_count())) == before


def _count() -> Any:
    return select(func.count()).select_from(SecurityEvent)


async def test_filters_and_paging_newest_first(tenant: Tenant) -> None:
    with audit.acting_as("cli:bob"):
        await tenant.create_api(scopes={"a:b": ""})
        for value in ("c:d", "e:f", "g:h"):
            await tenant.run(lambda s, v=value: admin.add_scope(s, AUDIENCE, v))
    async with tenant.runtime.sessions() as session:
        added = audit.Filters(kinds=("api.scope_added",), subject=AUDIENCE)
        first = await audit.events(session, added, limit=2)
        rest = await audit.events(session, added, before_id=first[-1].id, limit=2)
        nobody = await audit.events(session, audit.Filters(actor="cli:nobody"))
    assert [e.details["scope"] for e in first + rest] == ["g:h", "e:f", "c:d"]
    assert nobody == []


async def test_token_and_client_authentication_events_hold_no_secret(
    auth_server: AuthServer,
) -> None:
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["batch:upload"]})
    good = await client.request_token(auth_server.http)
    assert good.status_code == 200
    wrong_secret = client.secret[:-1] + ("x" if client.secret[-1] != "x" else "y")
    auth_server.http.headers["X-Request-Id"] = "audit-test-1"
    bad = await client.request_token(auth_server.http, secret=wrong_secret)
    del auth_server.http.headers["X-Request-Id"]
    assert bad.status_code == 401

    tenant = auth_server.tenant
    issued = await _wait_for(tenant, 1, kinds=("token.issued",))
    failed = await _wait_for(tenant, 1, kinds=("client_auth.failed",))
    assert len(issued) == 1
    assert len(failed) == 1
    assert issued[0]["subject"] == client.client_id
    tallied = issued[0]["details"]
    assert tallied.pop("first") <= tallied.pop("last")
    assert tallied == {
        "grant_type": "client_credentials",
        "audience": AUDIENCE,
        "scope": "batch:upload",
        "count": 1,
    }
    assert failed[0]["outcome"] == "failure"
    assert failed[0]["details"] == {"reason": "wrong_secret"}
    assert failed[0]["address"] == "127.0.0.1"
    assert failed[0]["request_id"] == "audit-test-1"
    text = json.dumps(issued + failed)
    assert client.secret not in text
    assert wrong_secret not in text
    assert good.json()["access_token"] not in text


async def test_logins_and_a_reused_refresh_token_are_recorded(auth_server: AuthServer) -> None:
    client_id = await _spa(auth_server)
    verifier, challenge = pkce_pair()
    query = _query(client_id, challenge, scope="openid offline_access read:timesheets")
    login = await authorize_and_login(auth_server.http, query, "erin@abc.example", PASSWORD)
    tokens = await _exchange(auth_server, client_id, login.params["code"], verifier)
    form = {"grant_type": "refresh_token", "client_id": client_id}
    first = await auth_server.http.post(
        "/oauth/token", data=form | {"refresh_token": tokens["refresh_token"]}
    )
    reused = await auth_server.http.post(
        "/oauth/token", data=form | {"refresh_token": tokens["refresh_token"]}
    )
    assert (first.status_code, reused.status_code) == (200, 400)
    auth_server.http.cookies.clear()  # signed out: the login page again
    page = await auth_server.http.get("/authorize?" + urlencode(_query(client_id, pkce_pair()[1])))
    csrf, authorize = CSRF.search(page.text), AUTHORIZE.search(page.text)
    assert csrf is not None
    assert authorize is not None
    wrong = await auth_server.http.post(
        "/login",
        data={
            "csrf": csrf.group(1),
            "authorize": authorize.group(1).replace("&amp;", "&"),
            "email": "erin@abc.example",
            "password": PASSWORD + "!",
        },
    )
    assert wrong.status_code == 401

    tenant = auth_server.tenant
    logins = await _wait_for(tenant, 1, kinds=("login.succeeded",))
    failed = await _wait_for(tenant, 1, kinds=("login.failed",))
    assert failed[0]["subject"] == "erin@abc.example"
    assert failed[0]["details"] == {"reason": "wrong_password"}
    reuse = await _wait_for(tenant, 1, kinds=("refresh_token.reused",))
    assert logins[0]["details"] == {}
    assert logins[0]["subject"].startswith("usr_")
    assert reuse[0]["outcome"] == "failure"
    assert reuse[0]["details"] == {"client_id": client_id, "grant_revoked": True}
    text = json.dumps(await _events(tenant))
    assert PASSWORD not in text
    assert tokens["refresh_token"] not in text


async def test_the_buffer_keeps_events_while_the_database_is_away(tmp_path: Path) -> None:
    broken = session_factory(create_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db"))
    buffer = audit.AuditBuffer(broken)
    buffer.emit(audit.Event("token.issued", "c1"))
    buffer.emit(audit.Event("token.issued", "c2"))
    await buffer.flush()
    assert len(buffer._pending) == 2
    assert buffer.dropped == 0
    for n in range(audit.PENDING_LIMIT):
        buffer._pending.append({"n": n})
    buffer.emit(audit.Event("token.issued", "c3"))
    assert buffer.dropped == 1
    buffer._pending.clear()


async def test_a_rotated_secret_takes_effect_in_another_process_before_its_cache_expires(
    database_url: str, make_auth_settings: Callable[..., AuthServerSettings], tenant: Tenant
) -> None:
    await tenant.create_api()
    client = await tenant.machine_client({AUDIENCE: ["batch:upload"]})

    async def other_process(**settings: Any) -> Any:
        runtime = create_runtime(
            make_auth_settings(database_url, client_cache_seconds=3600, **settings)
        )
        await prepare(runtime)
        view = await runtime.client(client.client_id)
        assert view is not None
        assert secret_matches(client.secret, view.active_digests(runtime.now()))
        return runtime

    checking = await other_process(revision_check_seconds=0)
    not_checking = await other_process(revision_check_seconds=3600)
    try:
        new = await tenant.run(lambda s: admin.rotate_secret(s, client.client_id, timedelta(0)))
        for runtime, sees_new in ((checking, True), (not_checking, False)):
            view = await runtime.client(client.client_id)
            assert view is not None
            digests = view.active_digests(runtime.now())
            assert secret_matches(new, digests) is sees_new
            assert secret_matches(client.secret, digests) is not sees_new
    finally:
        await checking.engine.dispose()
        await not_checking.engine.dispose()


async def test_disabling_a_user_is_recorded_once(tenant: Tenant) -> None:
    async def work(session: Any) -> None:
        await people.create_user(session, email="dan@abc.example", name="Dan", password=PASSWORD)
        await people.set_enabled(session, "dan@abc.example", False)
        await people.set_enabled(session, "dan@abc.example", False)

    with audit.acting_as("cli:carol"):
        await tenant.run(work)
    kinds = [e["kind"] for e in await _events(tenant, actor="cli:carol")]
    assert kinds == ["user.disabled", "user.created"]


async def test_client_credentials_tokens_are_tallied_per_client_audience_and_scope(
    tenant: Tenant,
) -> None:
    buffer = tenant.runtime.audit
    details = {"grant_type": "client_credentials", "audience": AUDIENCE, "scope": "a"}
    for _ in range(3):
        buffer.tally("token.issued", "job", "client:job", details)
    buffer.tally("token.issued", "job", "client:job", details | {"scope": "b"})
    buffer.tally("token.issued", "other", "client:other", details)
    await buffer.flush()
    found = await _events(tenant, kinds=("token.issued",))
    counts = sorted((e["subject"], e["details"]["scope"], e["details"]["count"]) for e in found)
    assert counts == [("job", "a", 3), ("job", "b", 1), ("other", "a", 1)]
    assert all(e["request_id"] is None for e in found)


def test_every_kind_of_change_recorded_is_documented() -> None:
    """docs/security.md lists every kind `audit.change` is called with in the server."""
    root = Path(__file__).resolve().parents[2]
    kinds = set()
    for source in (root / "src/timesheets/authserver").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "change"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "audit"
                and isinstance(node.args[1], ast.Constant)
            ):
                kinds.add(node.args[1].value)
    assert len(kinds) > 20
    documented = (root / "docs/security.md").read_text()
    assert sorted(kind for kind in kinds if f"`{kind}`" not in documented) == []
