"""`/api/v2/users` and `/api/v2/roles`: every operation and refusal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.authserver.conftest import AUDIENCE
from tests.authserver.management.conftest import Management

PASSWORD = "correct horse battery staple"
USER = {"email": "Erin@ABC.example", "name": "Erin Employee", "password": PASSWORD}
EMPLOYEE = {
    "name": "Employee",
    "description": "Logs hours",
    "permissions": [
        {"resource_server_identifier": AUDIENCE, "permission_name": "read:timesheets"},
        {"resource_server_identifier": AUDIENCE, "permission_name": "create:timesheets"},
    ],
}


async def _post(management: Management, token: str, path: str, body: Any) -> dict[str, Any]:
    answer = await management.call("POST", path, token, json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def test_users_and_roles_end_to_end(management: Management) -> None:
    await management.server.tenant.create_api()
    token = await management.token()
    user = await _post(management, token, "users", USER)
    assert user["email"] == "erin@abc.example"
    assert user["roles"] == []
    assert PASSWORD not in str(user)
    role = await _post(management, token, "roles", EMPLOYEE)
    assert [p["permission_name"] for p in role["permissions"]] == [
        "create:timesheets",
        "read:timesheets",
    ]

    held = await management.call(
        "POST", f"users/{user['user_id']}/roles", token, json={"roles": ["Employee"]}
    )
    assert held.json() == ["Employee"]
    members = await management.call("GET", f"roles/{role['id']}/users", token)
    assert [m["email"] for m in members.json()] == ["erin@abc.example"]

    added = await management.call(
        "POST",
        f"roles/{role['id']}/permissions",
        token,
        json={
            "permissions": [
                {"resource_server_identifier": AUDIENCE, "permission_name": "delete:timesheets"}
            ]
        },
    )
    assert len(added.json()["permissions"]) == 3
    removed = await management.call(
        "DELETE",
        f"roles/{role['id']}/permissions",
        token,
        json={"permissions": EMPLOYEE["permissions"][:1]},
    )
    assert [p["permission_name"] for p in removed.json()["permissions"]] == [
        "create:timesheets",
        "delete:timesheets",
    ]

    path = f"users/{user['user_id']}"
    etag = (await management.call("GET", path, token)).headers["etag"]
    disabled = await management.call(
        "PATCH", path, token, json={"enabled": False}, headers={"If-Match": etag}
    )
    assert disabled.json()["enabled"] is False
    stale = await management.call(
        "PATCH", path, token, json={"name": "X"}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412

    found = await management.call("GET", "users", token, params={"email": "ERIN@abc.example"})
    assert [u["user_id"] for u in found.json()] == [user["user_id"]]
    assert found.headers["x-total-count"] == "1"

    not_held = await management.call("DELETE", f"{path}/roles", token, json={"roles": ["Boss"]})
    assert not_held.status_code == 404
    taken = await management.call("DELETE", f"{path}/roles", token, json={"roles": ["Employee"]})
    assert taken.json() == []

    assert (await management.call("DELETE", f"roles/{role['id']}", token)).status_code == 204
    assert (await management.call("DELETE", path, token)).status_code == 204
    assert (await management.call("GET", path, token)).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (USER | {"email": "not-an-email"}, 422, "email"),
        (USER | {"user_type": "Robot"}, 422, "user_type"),
        (USER | {"password": "short"}, 422, "password"),
        (USER | {"name": ""}, 422, "name"),
        (USER | {"role": "Admin"}, 422, "role"),
    ],
)
async def test_invalid_users_name_the_field_and_store_nothing(
    management: Management, body: dict[str, Any], status: int, field: str
) -> None:
    token = await management.token()
    before = await management.server.tenant.row_counts()
    answer = await management.call("POST", "users", token, json=body)
    assert answer.status_code == status, answer.text
    assert field in [error["field"] for error in answer.json()["errors"]]
    assert await management.server.tenant.row_counts() == before


async def test_duplicates_and_unknown_permissions_are_refused(management: Management) -> None:
    await management.server.tenant.create_api()
    token = await management.token()
    await _post(management, token, "users", USER)
    await _post(management, token, "roles", EMPLOYEE)
    before = await management.server.tenant.row_counts()
    again = await management.call("POST", "users", token, json=USER)
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "email"
    role_again = await management.call("POST", "roles", token, json=EMPLOYEE)
    assert role_again.status_code == 409
    unknown = await management.call(
        "POST",
        "roles",
        token,
        json={
            "name": "Pilot",
            "permissions": [
                {"resource_server_identifier": AUDIENCE, "permission_name": "fly:planes"}
            ],
        },
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "permissions"
    assert await management.server.tenant.row_counts() == before


async def test_the_url_names_its_own_role_not_one_named_by_its_id(management: Management) -> None:
    token = await management.token()
    target = await _post(management, token, "roles", {"name": "Auditor"})
    shadow = await _post(management, token, "roles", {"name": str(target["id"])})
    path = f"roles/{target['id']}"
    etag = (await management.call("GET", path, token)).headers["etag"]
    changed = await management.call(
        "PATCH", path, token, json={"description": "changed"}, headers={"If-Match": etag}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["description"]) == ("Auditor", "changed")
    wanted = [{"resource_server_identifier": management.audience, "permission_name": "read:logs"}]
    added = await management.call(
        "POST", f"{path}/permissions", token, json={"permissions": wanted}
    )
    assert added.json()["name"] == "Auditor"
    assert (await management.call("DELETE", path, token)).status_code == 204
    left = await management.call("GET", f"roles/{shadow['id']}", token)
    assert left.json() == shadow
