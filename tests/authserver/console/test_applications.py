"""The applications pages: create by type with the secret shown once, settings, rotation,
and authorization for an API by ticking its scopes."""

from __future__ import annotations

import re

import httpx

from tests.authserver.conftest import AUDIENCE
from tests.authserver.console.conftest import Console, field_error
from timesheets.authserver import admin

SECRET = re.compile(r'id="secret" type="text" readonly value="([^"]+)"')
CLIENT_ID = re.compile(r'<code id="client-id">([^<]+)</code>')


async def _machine(console: Console, name: str = "Timesheets Import Job") -> tuple[str, str]:
    """Create a machine application; its client_id and the secret shown."""
    answer = await console.admin.post("/admin/applications", {"name": name, "app_type": "machine"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    secret, client_id = SECRET.search(answer.text), CLIENT_ID.search(answer.text)
    assert secret is not None
    assert client_id is not None
    return client_id.group(1), secret.group(1)


async def _token(console: Console, client_id: str, secret: str) -> httpx.Response:
    return await console.server.http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "audience": AUDIENCE,
        },
    )


async def test_a_machine_application_authorized_by_ticking_scopes_gets_tokens(
    console: Console,
) -> None:
    api = (await console.server.tenant.create_api()).api
    client_id, secret = await _machine(console)
    path = f"/admin/applications/{client_id}"
    page = await console.admin.page(path)
    assert secret not in page  # shown once, never again
    assert secret not in await console.admin.page("/admin/applications")
    assert "Unauthorized" in page
    access = f"{path}/apis/{api.id}"
    form = await console.admin.page(access)
    assert form.count('type="checkbox"') == len(api.scopes)
    assert "Upload timesheets in batch" in form  # each scope with its description
    assert (await _token(console, client_id, secret)).status_code != 200  # not yet authorized

    saved = await console.admin.edit(access, {"scopes": ["create:timesheets", "batch:upload"]})
    assert saved.headers["location"] == access
    shown = await console.admin.page(access)
    assert "Authorized with 2 scope(s)." in shown
    assert len(re.findall(r'value="(?:create:timesheets|batch:upload)"\s+checked', shown)) == 2
    token = await _token(console, client_id, secret)
    assert token.status_code == 200, token.text
    assert sorted(token.json()["scope"].split()) == ["batch:upload", "create:timesheets"]
    [event] = await console.audited("grant.saved")
    assert event["details"]["scopes"] == ["batch:upload", "create:timesheets"]
    await console.audited("client.created")

    removed = await console.admin.post(f"{access}/remove")
    assert removed.headers["location"] == path
    assert (await _token(console, client_id, secret)).status_code != 200
    await console.audited("grant.removed")


async def test_rotation_shows_the_new_secret_once_and_ends_the_old(console: Console) -> None:
    await console.server.tenant.create_api()
    client_id, old = await _machine(console)
    await console.server.tenant.run(
        lambda s: admin.add_grant(s, client_id, AUDIENCE, ["read:timesheets"])
    )
    path = f"/admin/applications/{client_id}"
    bad = await console.admin.post(f"{path}/rotate", {"overlap": "-1"})
    assert bad.status_code == 400
    assert "whole number" in field_error(bad.text, "rotate", "overlap")
    assert (await _token(console, client_id, old)).status_code == 200
    rotated = await console.admin.post(f"{path}/rotate", {"overlap": "0"})
    assert rotated.status_code == 200
    assert rotated.headers["cache-control"] == "no-store"
    new = SECRET.search(rotated.text)
    assert new is not None
    assert new.group(1) != old
    assert new.group(1) not in await console.admin.page(path)
    assert (await _token(console, client_id, old)).status_code == 401
    assert (await _token(console, client_id, new.group(1))).status_code == 200
    await console.audited("client.secret_rotated")


async def test_settings_and_new_applications_are_checked_by_the_rules(console: Console) -> None:
    created = await console.admin.post(
        "/admin/applications",
        {"name": "SPA", "app_type": "spa", "redirect_uris": "https://spa.test/callback\n"},
    )
    assert created.status_code == 303  # a public client: no secret to show
    path = created.headers["location"]
    before = await console.server.tenant.row_counts()
    settings = {
        "name": "SPA",
        "enabled": "on",
        "grant_types": ["authorization_code"],
        "redirect_uris": "https://spa.test/callback",
        "web_origins": "https://spa.test",
    }
    cases = [
        ({"redirect_uris": "https://spa.test/cb#frag"}, "redirect_uris", "no fragment"),
        ({"web_origins": "spa.test"}, "web_origins", "scheme://host"),
        ({"grant_types": ["client_credentials"]}, "grant_types", "may use only"),
        ({"grant_types": []}, "grant_types", "may use only"),
    ]
    for change, field, words in cases:
        answer = await console.admin.edit(path, settings | change)
        assert answer.status_code == 400, change
        assert words in field_error(answer.text, "settings", field)
    await console.unchanged(before)
    saved = await console.admin.edit(path, settings | {"enabled": []})
    assert saved.status_code == 303
    client = await console.server.tenant.run(lambda s: admin.find_client(s, "SPA"))
    assert client.enabled is False
    assert client.web_origins == ["https://spa.test"]
    [event] = await console.audited("client.updated")
    assert event["details"]["changed"] == ["enabled", "grant_types", "web_origins"]
    await _machine(console, "Job")
    before = await console.server.tenant.row_counts()
    duplicate = await console.admin.post(
        "/admin/applications", {"name": "Job", "app_type": "machine"}
    )
    assert duplicate.status_code == 409
    assert "already exists" in field_error(duplicate.text, "create", "name")
    no_type = await console.admin.post("/admin/applications", {"name": "Other", "app_type": "x"})
    assert no_type.status_code == 400
    assert "client type" in field_error(no_type.text, "create", "app_type")
    await console.unchanged(before)
    await console.admin.page("/admin/applications/no-such-client", 404)
    await console.admin.page("/admin/applications/no-such-client/apis/no-such-api", 404)
    missing = await console.admin.post(
        "/admin/applications/no-such-client/rotate", {"overlap": "0"}
    )
    assert missing.status_code == 404
    await console.unchanged(before)
