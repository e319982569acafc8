"""Who may call the management API: a token of ours for its audience with the scope the
operation needs; RFC 6750 answers otherwise, and nothing changes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.authserver.conftest import AUDIENCE
from tests.authserver.management.conftest import Management
from timesheets.authorization_header import REPEATED
from timesheets.authserver.admin import MANAGEMENT_SCOPES
from timesheets.authserver.management.access import Requirement
from timesheets.authserver.management.router import ROUTERS

NEW_API = {"name": "Reports", "identifier": "https://reports.abc.example"}
MACHINE = {"name": "Timesheets Import Job", "app_type": "machine"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_no_token_is_401_with_a_bearer_challenge(management: Management) -> None:
    answer = await management.http.get("/api/v2/clients")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert "error=" not in answer.headers["www-authenticate"]  # RFC 6750 §3.1: no token, no code


async def test_a_garbled_token_is_invalid_token(management: Management) -> None:
    answer = await management.call("GET", "clients", "not.a.jwt")
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]


async def test_a_token_for_another_audience_is_refused(management: Management) -> None:
    await management.server.tenant.create_api()
    client = await management.server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    issued = await client.request_token(management.http)
    answer = await management.call("GET", "clients", issued.json()["access_token"])
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]


def _operations() -> list[Any]:
    """Every operation of the management API's route table, with the scope it needs."""
    found = []
    for route in (route for part in ROUTERS for route in part.routes):
        assert isinstance(route, APIRoute)
        [needed] = [
            d.call.scope for d in route.dependant.dependencies if isinstance(d.call, Requirement)
        ]
        path = re.sub(r"\{[a-z_]+\}", "1", route.path.removeprefix("/api/v2/"))
        for method in sorted(route.methods):
            found.append(pytest.param(method, path, needed, id=f"{method} {route.path}"))
    return found


OPERATIONS = _operations()


def test_the_route_table_lists_every_operation_once() -> None:
    """Each operation needs exactly one scope (`_operations` unpacks it) and is listed once."""
    assert len(OPERATIONS) == len({(p.values[0], p.values[1]) for p in OPERATIONS}) >= 35


@pytest.mark.parametrize(("method", "path", "needed"), OPERATIONS)
async def test_a_missing_scope_is_403_insufficient_scope_and_changes_nothing(
    management: Management, method: str, path: str, needed: str
) -> None:
    others = [scope for scope in sorted(MANAGEMENT_SCOPES) if scope != needed]
    token = await management.token(others)
    before = await management.server.tenant.row_counts()
    answer = await management.call(method, path, token)
    assert answer.status_code == 403
    challenge = answer.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert f'scope="{needed}"' in challenge
    assert await management.server.tenant.row_counts() == before


async def test_a_token_in_the_query_string_is_refused(management: Management) -> None:
    token = await management.token(["read:clients"])
    answer = await management.http.get(f"/api/v2/clients?access_token={token}")
    assert answer.status_code == 401  # RFC 9700 §2.5 / RFC 6750 §2.3: never from the URI
    assert answer.headers["www-authenticate"].startswith("Bearer")


async def parts(body: bytes) -> AsyncIterator[bytes]:
    """The body sent chunked (no Content-Length)."""
    for start in range(0, len(body), 4096):
        yield body[start : start + 4096]


async def test_a_form_token_beside_the_header_deletes_nothing(management: Management) -> None:
    """RFC 6750 §2, §3.1: a token in a form body too is invalid_request, also where the
    endpoint ignores its body; a form past 16 KiB cannot be searched and is 413."""
    token = await management.token(["create:clients", "delete:clients", "read:clients"])
    created = await management.call("POST", "clients", token, json=MACHINE)
    assert created.status_code == 201, created.text
    path = f"clients/{created.json()['client_id']}"
    before = await management.server.tenant.row_counts()
    small = b"note=" + b"x" * 10_000 + b"&access_token=" + token.encode()
    for content in (small, parts(small)):
        answer = await management.call("DELETE", path, token, content=content, headers=FORM)
        assert answer.status_code == 400, answer.text
        assert answer.headers.get_list("www-authenticate") == [
            'Bearer realm="timesheets", error="invalid_request", '
            'error_description="the token must be sent in the Authorization header only"'
        ]
        assert answer.json()["error"] == "invalid_request"
    large = b"note=" + b"x" * 20_000
    for content in (large, parts(large)):
        answer = await management.call("DELETE", path, token, content=content, headers=FORM)
        assert answer.status_code == 413, answer.text
        assert answer.json() == {"message": "Request body exceeds 16384 bytes"}
    assert await management.server.tenant.row_counts() == before
    assert (await management.call("GET", path, token)).status_code == 200


async def test_two_authorization_headers_are_invalid_request_and_change_nothing(
    management: Management,
) -> None:
    """RFC 9110 §11.6.2, RFC 6750 §3.1: a second Authorization header, whatever it holds,
    is invalid_request before the token is looked at: nothing is created or deleted."""
    token = await management.token(["create:clients", "delete:clients", "read:clients"])
    created = await management.call("POST", "clients", token, json=MACHINE)
    assert created.status_code == 201, created.text
    path = f"clients/{created.json()['client_id']}"
    before = await management.server.tenant.row_counts()
    bearer = f"Bearer {token}"
    for second in (bearer, "Bearer other"):
        headers = [("Authorization", bearer), ("Authorization", second)]
        for method, target, body in (("POST", "clients", MACHINE), ("DELETE", path, None)):
            answer = await management.http.request(
                method, f"/api/v2/{target}", headers=headers, json=body
            )
            assert answer.request.headers.get_list("authorization") == [bearer, second]
            assert answer.status_code == 400, answer.text
            assert answer.headers.get_list("www-authenticate") == [
                'Bearer realm="timesheets", error="invalid_request", '
                f'error_description="{REPEATED}"'
            ]
            assert answer.json()["error"] == "invalid_request"
    assert await management.server.tenant.row_counts() == before
    assert (await management.call("GET", path, token)).status_code == 200


def _refused(answer: httpx.Response, error: str) -> None:
    assert answer.status_code == (403 if error == "insufficient_scope" else 401), answer.text
    assert f'error="{error}"' in answer.headers["www-authenticate"]


async def _client_and_grant(management: Management, admin_token: str, name: str) -> tuple[str, int]:
    clients = (await management.call("GET", "clients", admin_token)).json()
    client_id = next(c["client_id"] for c in clients if c["name"] == name)
    grants = await management.call("GET", f"client-grants?client_id={client_id}", admin_token)
    return client_id, grants.json()[0]["id"]


async def test_a_disabled_client_is_shut_out_at_once(management: Management) -> None:
    """docs/management-api.md: PATCH {enabled: false} shuts the client out everywhere."""
    admin_token = await management.token()
    token = await management.token(["read:clients"], name="Leaked")
    client_id, _ = await _client_and_grant(management, admin_token, "Leaked")
    disabled = await management.call(
        "PATCH", f"clients/{client_id}", admin_token, json={"enabled": False}
    )
    assert disabled.status_code == 200, disabled.text
    _refused(await management.call("GET", "clients", token), "invalid_token")
    enabled = await management.call(
        "PATCH", f"clients/{client_id}", admin_token, json={"enabled": True}
    )
    assert enabled.status_code == 200, enabled.text
    assert (await management.call("GET", "clients", token)).status_code == 200
    assert (await management.call("DELETE", f"clients/{client_id}", admin_token)).status_code == 204
    _refused(await management.call("GET", "clients", token), "invalid_token")


async def test_a_withdrawn_grant_or_scope_stops_the_token(management: Management) -> None:
    admin_token = await management.token()
    token = await management.token(["read:clients", "read:users"], name="Narrowed")
    _, grant_id = await _client_and_grant(management, admin_token, "Narrowed")
    narrowed = await management.call(
        "PATCH", f"client-grants/{grant_id}", admin_token, json={"scope": ["read:users"]}
    )
    assert narrowed.status_code == 200, narrowed.text
    _refused(await management.call("GET", "clients", token), "insufficient_scope")
    assert (await management.call("GET", "users", token)).status_code == 200
    removed = await management.call("DELETE", f"client-grants/{grant_id}", admin_token)
    assert removed.status_code == 204, removed.text
    _refused(await management.call("GET", "users", token), "invalid_token")


async def test_a_disabled_person_is_shut_out_at_once(management: Management) -> None:
    admin_token = await management.token()
    token = await management.person_token(["read:users"], email="pat@abc.example")
    assert (await management.call("GET", "users", token)).status_code == 200
    users = (await management.call("GET", "users?email=pat@abc.example", admin_token)).json()
    path = f"users/{users[0]['user_id']}"
    assert (await management.call("PATCH", path, admin_token, json={"enabled": False})).is_success
    _refused(await management.call("GET", "users", token), "invalid_token")


async def test_a_persons_scope_stops_with_their_role(management: Management) -> None:
    """A person holds now what their roles still permit: a role taken away takes its
    management scopes with it before the token expires (and so out of what they can give)."""
    admin_token = await management.token()
    token = await management.person_token(["read:users"], email="lou@abc.example")
    assert (await management.call("GET", "users", token)).status_code == 200
    users = (await management.call("GET", "users?email=lou@abc.example", admin_token)).json()
    roles = (await management.call("GET", "roles", admin_token)).json()
    [role] = [r for r in roles if r["name"] == "Role lou@abc.example"]
    path = f"users/{users[0]['user_id']}/roles"
    removed = await management.call("DELETE", path, admin_token, json={"roles": [role["name"]]})
    assert removed.is_success, removed.text
    refused = await management.call("GET", "users", token)
    assert refused.status_code == 403, refused.text
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
