"""Two Authorization headers at every endpoint of the authorization server that reads
one, on SQLite and PostgreSQL (RFC 9110 §11.6.2: one `credentials` value).

Client authentication (token, revocation, introspection) answers 400 invalid_request
(RFC 6749 §2.3, §5.2; RFC 7009 §2.2.1; RFC 7662 §2.3) and logs it; nothing is issued,
spent or revoked: the code, the refresh token and the grant still work with one header.
UserInfo answers as a bearer endpoint (RFC 6750 §3.1); the management API is in
tests/authserver/management/test_access.py.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import httpx
import pytest

from tests.authserver.conftest import AUDIENCE, AuthServer
from tests.authserver.flows import authorize_and_login, pkce_pair
from tests.security.test_catalogue_bearer import assert_bearer_error
from timesheets.authorization_header import REPEATED
from timesheets.authserver import admin, people

pytestmark = pytest.mark.asyncio

REDIRECT = "https://portal.example.com/callback"
PASSWORD = "correct horse battery"
REFUSAL = {"error": "invalid_request", "error_description": REPEATED}


def basic(client_id: str, secret: str) -> str:
    """An HTTP Basic Authorization value."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def twice(first: str, second: str) -> list[tuple[str, str]]:
    """Two Authorization headers, each sent as a field of its own."""
    return [("Authorization", first), ("Authorization", second)]


async def post(server: AuthServer, path: str, form: dict[str, str], headers: Any) -> httpx.Response:
    """POST a form with these headers, checking they went out as given."""
    response = await server.http.post(path, data=form, headers=headers)
    sent = httpx.Headers(headers).get_list("authorization")
    assert response.request.headers.get_list("authorization") == sent
    return response


def assert_refused(response: httpx.Response) -> None:
    """400 invalid_request as the endpoint answers it, no challenge, not cached."""
    assert response.status_code == 400, response.text
    assert response.json() == REFUSAL
    assert response.headers["cache-control"] == "no-store"
    assert "www-authenticate" not in response.headers


def logged(caplog: pytest.LogCaptureFixture, message: str) -> list[str]:
    """The errors of the log records with this message."""
    return [r.__dict__["error"] for r in caplog.records if r.getMessage() == message]


async def portal(server: AuthServer) -> tuple[str, str]:
    """A confidential web client authenticating with Basic, and its secret, and Erin."""
    await server.tenant.create_api()

    async def work(session: Any) -> tuple[str, str]:
        created = await admin.create_client(
            session,
            name="Portal",
            app_type="regular_web",
            auth_method="client_secret_basic",
            redirect_uris=(REDIRECT,),
        )
        client_id = created.client.client_id
        await admin.add_grant(session, client_id, AUDIENCE, ["read:timesheets"])
        await people.create_role(session, "Employee", permissions={AUDIENCE: ["read:timesheets"]})
        await people.create_user(session, email="erin@abc.example", name="Erin", password=PASSWORD)
        await people.assign_role(session, "erin@abc.example", "Employee")
        assert created.secret is not None
        return client_id, created.secret

    result: tuple[str, str] = await server.tenant.run(work)
    return result


async def code_form(server: AuthServer, client_id: str) -> dict[str, str]:
    """The token request redeeming a code issued to Erin for the portal."""
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid offline_access read:timesheets",
        "audience": AUDIENCE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    async with httpx.AsyncClient(base_url=server.url) as browser:
        result = await authorize_and_login(browser, query, "erin@abc.example", PASSWORD)
    return {
        "grant_type": "authorization_code",
        "code": result.params["code"],
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }


async def test_client_credentials_with_two_headers_issue_nothing(
    auth_server: AuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client(
        {AUDIENCE: ["read:timesheets"]}, auth_method="client_secret_basic"
    )
    header = basic(client.client_id, client.secret)
    form = {"grant_type": "client_credentials", "audience": AUDIENCE}
    before = await auth_server.tenant.row_counts()
    for second in (header, basic(client.client_id, "wrong"), "Bearer abc"):
        assert_refused(await post(auth_server, "/oauth/token", form, twice(header, second)))
    assert await auth_server.tenant.row_counts() == before
    assert logged(caplog, "token request refused") == ["invalid_request"] * 3
    answer = await post(auth_server, "/oauth/token", form, {"Authorization": header})
    assert answer.status_code == 200, answer.text


async def refused_then_granted(
    server: AuthServer, form: dict[str, str], header: str, second: str
) -> dict[str, Any]:
    """The token request with a second header is refused and stores nothing; with the one
    header it is then granted: the token response."""
    before = await server.tenant.row_counts()
    assert_refused(await post(server, "/oauth/token", form, twice(header, second)))
    assert await server.tenant.row_counts() == before
    granted = await post(server, "/oauth/token", form, {"Authorization": header})
    assert granted.status_code == 200, granted.text
    tokens: dict[str, Any] = granted.json()
    return tokens


async def signed_in(server: AuthServer) -> tuple[str, dict[str, Any]]:
    """The portal's Basic header and the tokens of a code it redeemed for Erin."""
    client_id, secret = await portal(server)
    header = basic(client_id, secret)
    form = await code_form(server, client_id)
    answer = await post(server, "/oauth/token", form, {"Authorization": header})
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return header, tokens


async def test_a_code_and_a_refresh_token_sent_with_two_headers_stay_usable(
    auth_server: AuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client_id, secret = await portal(auth_server)
    header = basic(client_id, secret)
    form = await code_form(auth_server, client_id)
    tokens = await refused_then_granted(auth_server, form, header, header)
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    await refused_then_granted(auth_server, refresh, header, "Basic x")
    assert logged(caplog, "token request refused") == ["invalid_request"] * 2


async def test_revocation_and_introspection_with_two_headers_change_nothing(
    auth_server: AuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    header, tokens = await signed_in(auth_server)
    token = {"token": tokens["refresh_token"]}
    before = await auth_server.tenant.row_counts()
    assert_refused(await post(auth_server, "/oauth/revoke", token, twice(header, header)))
    assert_refused(await post(auth_server, "/oauth/introspect", token, twice(header, header)))
    assert await auth_server.tenant.row_counts() == before
    assert logged(caplog, "revocation refused") == ["invalid_request"]
    assert logged(caplog, "introspection refused") == ["invalid_request"]
    answer = await post(auth_server, "/oauth/introspect", token, {"Authorization": header})
    assert answer.json()["active"] is True
    refresh = {"grant_type": "refresh_token", "refresh_token": token["token"]}
    refreshed = await post(auth_server, "/oauth/token", refresh, {"Authorization": header})
    assert refreshed.status_code == 200, refreshed.text


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_userinfo_with_two_headers_is_a_bearer_invalid_request(
    auth_server: AuthServer, method: str
) -> None:
    _, tokens = await signed_in(auth_server)
    bearer = f"Bearer {tokens['access_token']}"
    for second in (bearer, "Basic dXNlcjpwYXNz"):
        response = await auth_server.http.request(
            method, "/userinfo", headers=twice(bearer, second)
        )
        assert response.request.headers.get_list("authorization") == [bearer, second]
        assert_bearer_error(response, 400, "invalid_request", REPEATED)
    answer = await auth_server.http.request(method, "/userinfo", headers={"Authorization": bearer})
    assert answer.status_code == 200, answer.text
