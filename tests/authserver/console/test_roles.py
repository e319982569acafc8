"""The roles pages: create a role, tick its permissions on an API, rename, delete."""

from __future__ import annotations

from typing import Any

from tests.authserver.conftest import AUDIENCE
from tests.authserver.console.conftest import Console, field_error
from timesheets.authserver import admin, people


async def test_a_role_with_permissions_ticked_and_refused_changes(console: Console) -> None:
    api = (await console.server.tenant.create_api()).api
    employee = await console.server.tenant.run(lambda s: people.find_role(s, "Employee"))
    path = f"/admin/roles/{employee.id}"
    before = await console.server.tenant.row_counts()
    duplicate = await console.admin.post("/admin/roles", {"name": "Admin"})
    assert duplicate.status_code == 409
    assert "already exists" in field_error(duplicate.text, "create", "name")
    renamed = await console.admin.edit(path, {"name": "Admin"})
    assert renamed.status_code == 409
    assert "already exists" in field_error(renamed.text, "settings", "name")
    unknown = await console.admin.edit(
        f"{path}/permissions/{api.id}",
        {"permissions": ["read:timesheets", "fly:planes"]},
        on=path,
    )
    assert unknown.status_code == 400
    assert "fly:planes" in field_error(unknown.text, f"permissions-{api.id}", "permissions")
    assert (await console.admin.post("/admin/roles/99999/delete")).status_code == 404
    assert (await console.admin.post("/admin/roles/x/delete")).status_code == 404
    await console.unchanged(before)
    created = await console.admin.post(
        "/admin/roles", {"name": "Manager", "description": "Approves"}
    )
    assert created.status_code == 303
    path = created.headers["location"]
    page = await console.admin.page(path)
    assert f'action="{path}/permissions/{api.id}"' in page
    scopes = ["read:timesheets", "approve:timesheets"]
    saved = await console.admin.edit(
        f"{path}/permissions/{api.id}", {"permissions": scopes}, on=path
    )
    assert saved.headers["location"] == path
    role = await console.server.tenant.run(lambda s: people.find_role(s, "Manager"))
    permissions = await console.server.tenant.run(lambda s: people.role_permissions(s, role.id))
    assert permissions == {AUDIENCE: sorted(scopes)}
    await console.audited("role.created")
    [event] = await console.audited("role.permissions_set")
    assert event["details"]["scopes"] == sorted(scopes)

    renamed = await console.admin.edit(path, {"name": "Approver", "description": ""})
    assert renamed.headers["location"] == path
    assert '<h1 id="heading">Approver</h1>' in await console.admin.page(path)
    await console.audited("role.updated")
    deleted = await console.admin.post(f"{path}/delete")
    assert deleted.headers["location"] == "/admin/roles"
    await console.audited("role.deleted")
    await console.admin.page(path, 404)


async def test_permissions_and_access_go_to_the_api_of_the_page(console: Console) -> None:
    """An API named after another API's id is not the one the page's address names."""
    api = (await console.server.tenant.create_api()).api
    await console.server.tenant.create_api("https://shadow.example", name=api.id)
    client = await console.server.tenant.machine_client(name="Job")
    employee = await console.server.tenant.run(lambda s: people.find_role(s, "Employee"))
    ticked = {"permissions": ["read:timesheets"]}
    role_page = f"/admin/roles/{employee.id}"
    saved = await console.admin.edit(f"{role_page}/permissions/{api.id}", ticked, on=role_page)
    access = f"/admin/applications/{client.client_id}/apis/{api.id}"
    granted = await console.admin.edit(access, {"scopes": ["read:timesheets"]})
    assert saved.status_code == granted.status_code == 303

    async def held(session: Any) -> tuple[dict[str, list[str]], list[str]]:
        grants = await admin.list_grants(session, client.client_id)
        return await people.role_permissions(session, employee.id), [
            a.identifier for _c, a, _g in grants
        ]

    assert await console.server.tenant.run(held) == ({AUDIENCE: ["read:timesheets"]}, [AUDIENCE])
    removed = await console.admin.post(f"{access}/remove")
    assert removed.status_code == 303
    assert (await console.server.tenant.run(held))[1] == []
