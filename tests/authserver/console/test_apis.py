"""The APIs pages: create, settings, scopes, delete; refusals next to their field."""

from __future__ import annotations

import re

from tests.authserver.console.conftest import Console, field_error
from timesheets.authserver import admin
from timesheets.authserver.console import versions

FORM = {
    "name": "Timesheets API",
    "identifier": "https://api.timesheets.test",
    "signing_alg": "RS256",
    "token_lifetime": "7200",
    "scopes": "read:timesheets Read timesheets\ncreate:timesheets Create timesheets\n",
}


async def _create(console: Console, **changes: str) -> str:
    answer = await console.admin.post("/admin/apis", FORM | changes)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


async def test_create_an_api_and_change_it(console: Console) -> None:
    path = await _create(console, permissions_claim="on")
    page = await console.admin.page(path)
    assert "API Timesheets API created." in page
    assert "https://api.timesheets.test" in page
    assert "<code>create:timesheets</code>" in page
    assert "API Timesheets API created." not in await console.admin.page(path)  # said once
    api = await console.server.tenant.run(lambda s: admin.find_api(s, FORM["identifier"]))
    assert (api.signing_alg, api.token_lifetime, api.permissions_claim) == ("RS256", 7200, True)
    assert [s.description for s in api.scopes] == ["Create timesheets", "Read timesheets"]
    [created] = await console.audited("api.created")
    assert created["subject"] == FORM["identifier"]

    changed = await console.admin.edit(path, {"name": "Timesheets", "token_lifetime": "600"})
    assert changed.headers["location"] == path
    added = await console.admin.edit(
        f"{path}/scopes", {"value": "batch:upload", "description": "Upload"}, on=path
    )
    removed = await console.admin.post(f"{path}/scopes/remove", {"value": "read:timesheets"})
    assert added.status_code == removed.status_code == 303
    api = await console.server.tenant.run(lambda s: admin.find_api(s, FORM["identifier"]))
    assert (api.name, api.token_lifetime, api.permissions_claim) == ("Timesheets", 600, False)
    assert [s.value for s in api.scopes] == ["batch:upload", "create:timesheets"]
    for kind in ("api.updated", "api.scope_added", "api.scope_removed"):
        await console.audited(kind)

    deleted = await console.admin.post(f"{path}/delete")
    assert deleted.headers["location"] == "/admin/apis"
    assert f'href="{path}"' not in await console.admin.page("/admin/apis")
    await console.audited("api.deleted")
    await console.admin.page(path, 404)


async def test_refused_input_is_shown_next_to_its_field_and_a_duplicate_is_a_conflict(
    console: Console,
) -> None:
    before = await console.server.tenant.row_counts()
    cases = [
        ({"identifier": "not a uri"}, "identifier", "without spaces"),
        ({"identifier": "api.timesheets"}, "identifier", "absolute URI"),
        ({"token_lifetime": "soon"}, "token_lifetime", "whole number"),
        ({"token_lifetime": "5"}, "token_lifetime", "between 60"),
        ({"signing_alg": "none"}, "signing_alg", "one of"),
        ({"name": ""}, "name", "1-200"),
        ({"scopes": "read timesheets\nbad\x7fscope x"}, "scopes", "not a valid scope"),
    ]
    for change, field, words in cases:
        answer = await console.admin.post("/admin/apis", FORM | change)
        assert answer.status_code == 400, (change, answer.text)
        assert words in field_error(answer.text, "create", field)
        kept = change.get("name", FORM["name"])
        assert f'value="{kept}"' in answer.text  # what was typed is kept
    await console.unchanged(before)
    path = await _create(console)
    before = await console.server.tenant.row_counts()
    again = await console.admin.post("/admin/apis", FORM | {"name": "Other"})
    assert again.status_code == 409
    assert "already exists" in again.text
    scope = await console.admin.edit(f"{path}/scopes", {"value": "read:timesheets"}, on=path)
    assert scope.status_code == 409
    assert "already has scope" in field_error(scope.text, "add-scope", "value")
    await console.unchanged(before)


async def test_built_in_api_read_only_hs256_secret_once_granted_api_kept(console: Console) -> None:
    """The management API cannot be changed; an HS256 secret is shown once; an API still
    granted to an application is not deleted."""
    page = await console.admin.page("/admin/apis")
    [path] = re.findall(r'href="(/admin/apis/api_[0-9a-f]+)">Timesheets Management API', page)
    shown = await console.admin.page(path)
    assert "cannot be changed" in shown
    assert "read:clients" in shown
    assert f'action="{path}"' not in shown
    assert "Add scope" not in shown
    before = await console.server.tenant.row_counts()
    api_id = path.rsplit("/", 1)[1]
    version = await console.server.tenant.run(lambda s: versions.of_api(s, api_id))
    refused = await console.admin.post(
        path, {"name": "Mine", "token_lifetime": "600", "version": version}
    )
    assert refused.status_code == 409
    assert "built in" in refused.text
    assert (await console.admin.post(f"{path}/delete")).status_code == 409
    await console.unchanged(before)
    answer = await console.admin.post("/admin/apis", FORM | {"signing_alg": "HS256"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    secret = re.search(r'id="secret" type="text" readonly value="([^"]+)"', answer.text)
    assert secret is not None
    assert len(secret.group(1)) >= 32
    api = await console.server.tenant.run(lambda s: admin.find_api(s, FORM["identifier"]))
    path = f"/admin/apis/{api.id}"
    for shown_after in ("/admin/apis", path):
        assert secret.group(1) not in await console.admin.page(shown_after)
    await console.server.tenant.machine_client({FORM["identifier"]: ["read:timesheets"]})
    before = await console.server.tenant.row_counts()
    answer = await console.admin.post(f"{path}/delete")
    assert answer.status_code == 409
    assert "still has client grants" in answer.text
    assert "Import Job" in answer.text  # the page again, with who is authorized
    await console.unchanged(before)


async def test_a_page_acts_on_its_own_api_not_one_named_by_its_id(console: Console) -> None:
    path = await _create(console)
    api_id = path.rsplit("/", 1)[1]
    shadow = await _create(console, name=api_id, identifier="https://shadow.example")
    assert shadow != path
    changes = (
        (path, {"name": "Renamed", "token_lifetime": "600"}),
        (f"{path}/scopes", {"value": "batch:upload", "description": "Upload"}),
    )
    for where, form in changes:
        assert (await console.admin.edit(where, form, on=path)).status_code == 303
    assert (
        await console.admin.post(f"{path}/scopes/remove", {"value": "read:timesheets"})
    ).status_code == 303
    assert (await console.admin.post(f"{path}/delete")).status_code == 303

    left = await console.server.tenant.run(lambda s: admin.find_api(s, "https://shadow.example"))
    assert (left.name, left.token_lifetime) == (api_id, 7200)
    assert [s.value for s in left.scopes] == ["create:timesheets", "read:timesheets"]
    await console.admin.page(path, 404)
