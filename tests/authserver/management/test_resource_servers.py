"""`/api/v2/resource-servers`: every operation and every refusal, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.authserver.management.conftest import Management

SCOPES = [
    {"value": "read:timesheets", "description": "Read timesheets"},
    {"value": "create:timesheets", "description": "Create timesheets"},
]
API = {
    "name": "Timesheets API",
    "identifier": "https://api.abc.example",
    "signing_alg": "RS256",
    "token_lifetime": 900,
    "scopes": SCOPES,
}


async def _create(management: Management, token: str, **changes: Any) -> dict[str, Any]:
    answer = await management.call("POST", "resource-servers", token, json=API | changes)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    assert answer.headers["location"] == f"/api/v2/resource-servers/{created['id']}"
    return created


async def test_create_read_list_update_delete(management: Management) -> None:
    token = await management.token()
    created = await _create(management, token)
    assert created["identifier"] == API["identifier"]
    assert created["scopes"] == sorted(SCOPES, key=lambda s: s["value"])
    assert "signing_secret" not in created

    one = await management.call("GET", f"resource-servers/{created['id']}", token)
    assert one.json() == created
    etag = one.headers["etag"]

    listed = await management.call("GET", "resource-servers", token, params={"limit": 1})
    assert listed.headers["x-total-count"] == "2"  # ours and the built-in management API
    assert [api["name"] for api in listed.json()] == ["Timesheets API"]
    second = await management.call("GET", "resource-servers", token, params={"offset": 1})
    assert [api["is_system"] for api in second.json()] == [True]

    changed = await management.call(
        "PATCH",
        f"resource-servers/{created['id']}",
        token,
        json={"token_lifetime": 1800, "scopes": [*SCOPES[:1], {"value": "approve:timesheets"}]},
        headers={"If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["token_lifetime"] == 1800
    assert [s["value"] for s in changed.json()["scopes"]] == [
        "approve:timesheets",
        "read:timesheets",
    ]
    assert changed.headers["etag"] != etag

    stale = await management.call(
        "PATCH",
        f"resource-servers/{created['id']}",
        token,
        json={"token_lifetime": 60},
        headers={"If-Match": etag},
    )
    assert stale.status_code == 412
    assert stale.json()["errors"] == [{"field": "If-Match", "message": stale.json()["message"]}]
    again = await management.call("GET", f"resource-servers/{created['id']}", token)
    assert again.json()["token_lifetime"] == 1800

    gone = await management.call("DELETE", f"resource-servers/{created['id']}", token)
    assert gone.status_code == 204
    missing = await management.call("GET", f"resource-servers/{created['id']}", token)
    assert missing.status_code == 404


async def test_an_hs256_api_secret_is_in_the_create_answer_only(management: Management) -> None:
    token = await management.token()
    created = await _create(management, token, signing_alg="HS256")
    assert len(created["signing_secret"]) >= 43
    one = await management.call("GET", f"resource-servers/{created['id']}", token)
    assert "signing_secret" not in one.json()
    assert created["signing_secret"] not in one.text


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"identifier": "not a uri"}, 422, "identifier"),
        ({"identifier": "https://api.abc.example#x"}, 422, "identifier"),
        ({"signing_alg": "none"}, 422, "signing_alg"),
        ({"token_lifetime": 10}, 422, "token_lifetime"),
        ({"scopes": [{"value": "two words"}]}, 422, "scopes"),
        ({"name": ""}, 422, "name"),
        ({"audience": "x"}, 422, "audience"),
        ({"scopes": "read:timesheets"}, 422, "scopes"),
    ],
)
async def test_invalid_input_names_the_field_and_stores_nothing(
    management: Management, changes: dict[str, Any], status: int, field: str
) -> None:
    token = await management.token()
    before = await management.server.tenant.row_counts()
    answer = await management.call("POST", "resource-servers", token, json=API | changes)
    assert answer.status_code == status, answer.text
    assert field in [error["field"] for error in answer.json()["errors"]]
    assert await management.server.tenant.row_counts() == before


async def test_a_duplicate_is_409(management: Management) -> None:
    token = await management.token()
    await _create(management, token)
    before = await management.server.tenant.row_counts()
    again = await management.call("POST", "resource-servers", token, json=API)
    assert again.status_code == 409
    assert "already exists" in again.json()["message"]
    assert await management.server.tenant.row_counts() == before


async def test_an_api_with_grants_cannot_be_deleted(management: Management) -> None:
    token = await management.token()
    created = await _create(management, token)
    await management.server.tenant.machine_client({API["identifier"]: ["read:timesheets"]})
    answer = await management.call("DELETE", f"resource-servers/{created['id']}", token)
    assert answer.status_code == 409
    assert "still has client grants" in answer.json()["message"]
    still = await management.call("GET", f"resource-servers/{created['id']}", token)
    assert still.status_code == 200


async def test_the_built_in_management_api_cannot_be_changed(management: Management) -> None:
    token = await management.token()
    listed = await management.call("GET", "resource-servers", token)
    [system] = [api for api in listed.json() if api["is_system"]]
    assert system["identifier"] == management.audience
    for method, body in (("PATCH", {"token_lifetime": 60}), ("DELETE", None)):
        answer = await management.call(method, f"resource-servers/{system['id']}", token, json=body)
        assert answer.status_code == 409
        assert "built in" in answer.json()["message"]


async def test_unknown_ids_are_404(management: Management) -> None:
    token = await management.token()
    for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        answer = await management.call(method, "resource-servers/api_missing", token, json=body)
        assert answer.status_code == 404


async def test_the_url_names_its_own_api_not_one_named_by_its_id(management: Management) -> None:
    token = await management.token()
    target = await _create(management, token)
    shadow = await _create(
        management, token, name=target["id"], identifier="https://shadow.example"
    )
    path = f"resource-servers/{target['id']}"
    changed = await management.call(
        "PATCH", path, token, json={"token_lifetime": 120, "scopes": SCOPES[:1]}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["token_lifetime"], changed.json()["name"]) == (120, API["name"])
    assert (await management.call("DELETE", path, token)).status_code == 204
    left = await management.call("GET", f"resource-servers/{shadow['id']}", token)
    assert left.json() == shadow
