"""`/api/v2/clients` and `/api/v2/client-grants`: every operation and refusal, and that what
they change takes effect at the token endpoint at once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.authserver.conftest import ALL_SCOPES, AUDIENCE, MachineClient
from tests.authserver.management.conftest import Management

MACHINE = {"name": "Timesheets Import Job", "app_type": "machine"}


async def _client(management: Management, token: str, **changes: Any) -> dict[str, Any]:
    answer = await management.call("POST", "clients", token, json=MACHINE | changes)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def _token_for(management: Management, client_id: str, secret: str) -> int:
    answer = await MachineClient(client_id, secret).request_token(management.http)
    return answer.status_code


async def test_the_secret_is_shown_once_and_rotation_takes_effect_at_once(
    management: Management,
) -> None:
    await management.server.tenant.create_api()
    token = await management.token()
    created = await _client(management, token)
    client_id, first = created["client_id"], created["client_secret"]
    assert created["token_endpoint_auth_method"] == "client_secret_post"
    assert created["grant_types"] == ["client_credentials"]
    one = await management.call("GET", f"clients/{client_id}", token)
    assert "client_secret" not in one.json()
    assert first not in one.text
    grant = await management.call(
        "POST",
        "client-grants",
        token,
        json={"client_id": client_id, "audience": AUDIENCE, "scope": ["batch:upload"]},
    )
    assert grant.status_code == 201, grant.text
    assert await _token_for(management, client_id, first) == 200

    rotated = await management.call(
        "POST", f"clients/{client_id}/rotate-secret", token, json={"overlap_seconds": 0}
    )
    assert rotated.status_code == 200
    assert rotated.headers["cache-control"] == "no-store"
    second = rotated.json()["client_secret"]
    assert second != first
    assert await _token_for(management, client_id, first) == 401
    assert await _token_for(management, client_id, second) == 200


async def test_a_disabled_client_is_refused_until_enabled(management: Management) -> None:
    await management.server.tenant.create_api()
    token = await management.token()
    created = await _client(management, token)
    await management.call(
        "POST",
        "client-grants",
        token,
        json={"client_id": created["client_id"], "audience": AUDIENCE, "scope": []},
    )
    path = f"clients/{created['client_id']}"
    off = await management.call("PATCH", path, token, json={"enabled": False})
    assert off.json()["enabled"] is False
    assert await _token_for(management, created["client_id"], created["client_secret"]) == 401
    on = await management.call("PATCH", path, token, json={"enabled": True})
    assert on.json()["enabled"] is True
    assert await _token_for(management, created["client_id"], created["client_secret"]) == 200


async def test_spa_settings_update_with_if_match_and_list(management: Management) -> None:
    token = await management.token()
    spa = await _client(
        management,
        token,
        name="Timesheets SPA",
        app_type="spa",
        redirect_uris=["https://app.abc.example/callback"],
        web_origins=["https://app.abc.example"],
    )
    assert "client_secret" not in spa
    assert spa["token_endpoint_auth_method"] == "none"
    path = f"clients/{spa['client_id']}"
    etag = (await management.call("GET", path, token)).headers["etag"]
    moved = await management.call(
        "PATCH",
        path,
        token,
        json={"redirect_uris": ["https://timesheets.abc.example/callback"]},
        headers={"If-Match": etag},
    )
    assert moved.status_code == 200
    assert moved.json()["redirect_uris"] == ["https://timesheets.abc.example/callback"]
    stale = await management.call(
        "PATCH", path, token, json={"name": "Other"}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412
    assert (await management.call("GET", path, token)).json()["name"] == "Timesheets SPA"
    listed = await management.call("GET", "clients", token)
    assert "Timesheets SPA" in [c["name"] for c in listed.json()]
    assert int(listed.headers["x-total-count"]) == len(listed.json())
    gone = await management.call("DELETE", path, token)
    assert gone.status_code == 204
    assert (await management.call("GET", path, token)).status_code == 404


async def test_a_client_is_marked_third_party_on_create_and_update(
    management: Management,
) -> None:
    token = await management.token()
    spa = {"app_type": "spa", "redirect_uris": ["https://partner.example/callback"]}
    own = await _client(management, token, name="Own App", **spa)
    partner = await _client(management, token, name="Partner", first_party=False, **spa)
    assert (own["first_party"], partner["first_party"]) == (True, False)
    path = f"clients/{own['client_id']}"
    moved = await management.call("PATCH", path, token, json={"first_party": False})
    assert moved.status_code == 200, moved.text
    assert (await management.call("GET", path, token)).json()["first_party"] is False
    logout = {"post_logout_redirect_uris": ["https://partner.example/"]}
    registered = await management.call("PATCH", path, token, json=logout)
    assert registered.json()["post_logout_redirect_uris"] == ["https://partner.example/"]
    relative = await management.call(
        "PATCH", path, token, json={"post_logout_redirect_uris": ["/out"]}
    )
    assert relative.status_code == 422
    assert [e["field"] for e in relative.json()["errors"]] == ["post_logout_redirect_uris"]
    assert (await management.call("GET", path, token)).json() == registered.json()
    refused = await management.call("PATCH", path, token, json={"first_party": "maybe"})
    assert refused.status_code == 422
    assert "first_party" in [error["field"] for error in refused.json()["errors"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (MACHINE | {"app_type": "robot"}, "app_type"),
        (MACHINE | {"token_endpoint_auth_method": "none"}, "token_endpoint_auth_method"),
        (MACHINE | {"grant_types": ["authorization_code"]}, "grant_types"),
        ({"name": "SPA", "app_type": "spa", "redirect_uris": ["/relative"]}, "redirect_uris"),
        ({"name": "SPA", "app_type": "spa", "web_origins": ["https://x/path"]}, "web_origins"),
        ({"app_type": "machine"}, "name"),
        (MACHINE | {"secret": "x" * 40}, "secret"),
    ],
)
async def test_invalid_clients_name_the_field_and_store_nothing(
    management: Management, body: dict[str, Any], field: str
) -> None:
    token = await management.token()
    before = await management.server.tenant.row_counts()
    answer = await management.call("POST", "clients", token, json=body)
    assert answer.status_code == 422, answer.text
    assert field in [error["field"] for error in answer.json()["errors"]]
    assert await management.server.tenant.row_counts() == before


async def test_grant_refusals(management: Management) -> None:
    await management.server.tenant.create_api()
    token = await management.token()
    created = await _client(management, token)
    grant = {"client_id": created["client_id"], "audience": AUDIENCE, "scope": ["batch:upload"]}
    first = await management.call("POST", "client-grants", token, json=grant)
    assert first.status_code == 201
    before = await management.server.tenant.row_counts()
    cases = [
        (grant, 409, "audience"),
        (grant | {"audience": "https://nowhere.example"}, 404, None),
        (grant | {"client_id": "no-such-client"}, 404, None),
        (grant | {"scope": ["fly:planes"]}, 409, "audience"),
    ]
    for body, status, field in cases:
        answer = await management.call("POST", "client-grants", token, json=body)
        assert answer.status_code == status, (body, answer.text)
        if field:
            assert [e["field"] for e in answer.json()["errors"]] == [field]
    path = f"client-grants/{first.json()['id']}"
    unknown_scope = await management.call("PATCH", path, token, json={"scope": ["fly:planes"]})
    assert unknown_scope.status_code == 422
    assert unknown_scope.json()["errors"][0]["field"] == "scopes"
    assert await management.server.tenant.row_counts() == before

    widened = await management.call("PATCH", path, token, json={"scope": sorted(ALL_SCOPES)})
    assert widened.json()["scope"] == sorted(ALL_SCOPES)
    mine = await management.call(
        "GET", "client-grants", token, params={"client_id": created["client_id"]}
    )
    assert [g["id"] for g in mine.json()] == [first.json()["id"]]
    assert mine.headers["x-total-count"] == "1"
    assert (await management.call("DELETE", path, token)).status_code == 204
    assert (await management.call("GET", path, token)).status_code == 404


async def test_a_public_client_has_no_secret_to_rotate(management: Management) -> None:
    token = await management.token()
    spa = {"name": "SPA", "app_type": "spa", "redirect_uris": ["https://spa.example/cb"]}
    created = await management.call("POST", "clients", token, json=spa)
    before = await management.server.tenant.row_counts()
    path = f"clients/{created.json()['client_id']}/rotate-secret"
    answer = await management.call("POST", path, token, json={})
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["client_id"]
    assert await management.server.tenant.row_counts() == before


@pytest.mark.parametrize("content", [b"{not json", b'{"name": "A",'])
async def test_a_body_that_is_not_json_names_the_body(
    management: Management, content: bytes
) -> None:
    token = await management.token()
    before = await management.server.tenant.row_counts()
    headers = {"Content-Type": "application/json"}
    answer = await management.call("POST", "clients", token, content=content, headers=headers)
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["body"]
    assert await management.server.tenant.row_counts() == before
