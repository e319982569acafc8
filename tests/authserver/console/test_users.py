"""The users pages: create with roles, change, disable, set a password, give and take roles."""

from __future__ import annotations

import re

from tests.authserver.console.conftest import (
    EMPLOYEE_EMAIL,
    PASSWORD,
    Browser,
    Console,
    field_error,
)
from timesheets.authserver import people

NEW = {
    "email": "Casey@ABC.example",
    "name": "Casey Contractor",
    "password": "a long enough password",
    "user_type": "Contractor",
    "roles": ["Employee"],
}


async def test_create_a_user_with_a_role_then_disable_them(console: Console) -> None:
    created = await console.admin.post("/admin/users", NEW)
    assert created.status_code == 303, created.text
    path = created.headers["location"]
    page = await console.admin.page(path)
    assert "User casey@abc.example created." in page
    assert "Take away Employee" in page
    user = await console.server.tenant.run(lambda s: people.find_user(s, "casey@abc.example"))
    assert user.user_type == "Contractor"
    assert await console.server.tenant.run(lambda s: people.user_roles(s, user.id)) == ["Employee"]
    await console.audited("user.created")
    await console.audited("user.role_assigned")

    casey = Browser(console.guest.http)
    disabled = await console.admin.post(f"{path}/enabled", {"enabled": "false"})
    assert disabled.headers["location"] == path
    assert "cannot sign in" in await console.admin.page(path)
    assert (await casey.sign_in("casey@abc.example", NEW["password"])).status_code == 401
    await console.audited("user.disabled")
    await console.admin.post(f"{path}/enabled", {"enabled": "true"})
    assert (await casey.sign_in("casey@abc.example", NEW["password"])).status_code == 303
    await console.audited("user.enabled")


async def test_roles_profile_password_and_refusals(console: Console) -> None:
    before = await console.server.tenant.row_counts()
    cases = [
        ({"email": "not-an-email"}, 400, "email", "not an email address"),
        ({"email": EMPLOYEE_EMAIL}, 409, "email", "already exists"),
        ({"password": "short"}, 400, "password", "at least 10"),
        ({"name": " "}, 400, "name", "1-200"),
        ({"user_type": "Robot"}, 400, "user_type", "one of"),
    ]
    for change, status, field, words in cases:
        answer = await console.admin.post("/admin/users", NEW | change)
        assert answer.status_code == status, change
        assert words in field_error(answer.text, "create", field)
        assert 'value="a long enough password"' not in answer.text  # a password is not echoed
    no_role = await console.admin.post("/admin/users", NEW | {"roles": ["Astronaut"]})
    assert no_role.status_code == 404
    assert "no role" in no_role.text
    await console.unchanged(before)
    await console.admin.page("/admin/users/usr_missing", 404)
    user = await console.server.tenant.run(lambda s: people.find_user(s, EMPLOYEE_EMAIL))
    short = await console.admin.post(f"/admin/users/{user.id}/password", {"password": "short"})
    assert short.status_code == 400
    assert "at least 10" in field_error(short.text, "password", "password")
    not_held = await console.admin.post(f"/admin/users/{user.id}/roles/remove", {"role": "Admin"})
    assert not_held.status_code == 404
    await console.unchanged(before)
    users = await console.admin.page("/admin/users")
    [path] = re.findall(rf'href="(/admin/users/usr_[0-9a-f]+)">{EMPLOYEE_EMAIL}<', users)
    taken = await console.admin.post(f"{path}/roles/remove", {"role": "Employee"})
    given = await console.admin.edit(f"{path}/roles", {"role": "Admin"}, on=path)
    profile = await console.admin.edit(path, {"name": "Erin E.", "user_type": "Contractor"})
    password = await console.admin.post(f"{path}/password", {"password": "another long password"})
    assert taken.status_code == given.status_code == profile.status_code == 303
    assert password.status_code == 303
    user = await console.server.tenant.run(lambda s: people.find_user(s, EMPLOYEE_EMAIL))
    assert (user.name, user.user_type) == ("Erin E.", "Contractor")
    assert await console.server.tenant.run(lambda s: people.user_roles(s, user.id)) == ["Admin"]
    for kind in ("user.role_removed", "user.role_assigned", "user.updated", "user.password_set"):
        await console.audited(kind)
    assert (await console.guest.sign_in(EMPLOYEE_EMAIL, PASSWORD)).status_code == 401
    assert (await console.guest.sign_in(EMPLOYEE_EMAIL, "another long password")).status_code == 303
    assert "Users" in await console.guest.page("/admin/users")  # now an administrator
