"""POST /oauth/token with the client credentials grant, against a running server."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import jwt
import pytest
from starlette.requests import Request
from starlette.types import Message

from tests.authserver.conftest import AUDIENCE, AuthServer, other_key_encryption_key
from timesheets.authserver.oauth.errors import InvalidRequest
from timesheets.authserver.routers.token import _read_asgi_body, read_body

pytestmark = pytest.mark.asyncio


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An HTTP Basic Authorization header."""
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def verify(server: AuthServer, token: str, audience: str = AUDIENCE) -> dict[str, object]:
    """Verify a token against the server's published JWKS."""
    jwks = jwt.PyJWKSet.from_dict((await server.http.get("/.well-known/jwks.json")).json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims: dict[str, object] = jwt.decode(
        token, key, algorithms=["RS256"], audience=audience, issuer=server.url
    )
    return claims


async def test_seed_json_request_issues_rfc9068_token(auth_server: AuthServer) -> None:
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["create:timesheets"]})
    response = await auth_server.http.post(
        "/oauth/token",
        json={
            "audience": AUDIENCE,
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.secret,
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "create:timesheets"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    claims = await verify(auth_server, body["access_token"])
    assert claims["sub"] == f"{client.client_id}@clients"
    assert claims["client_id"] == client.client_id
    assert claims["gty"] == "client-credentials"
    assert claims["exp"] == claims["iat"] + 3600  # type: ignore[operator]
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16


async def test_form_with_basic_and_resource(auth_server: AuthServer) -> None:
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client(
        {AUDIENCE: ["create:timesheets", "batch:upload"]}, auth_method="client_secret_basic"
    )
    response = await auth_server.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "resource": AUDIENCE, "scope": "batch:upload"},
        headers=basic(client.client_id, client.secret),
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "batch:upload"
    claims = await verify(auth_server, response.json()["access_token"])
    assert claims["scope"] == "batch:upload"


async def test_wrong_secret_via_basic_is_401_with_challenge_and_stores_nothing(
    auth_server: AuthServer,
) -> None:
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client(
        {AUDIENCE: ["create:timesheets"]}, auth_method="client_secret_basic"
    )
    before = await auth_server.tenant.row_counts()
    response = await auth_server.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "audience": AUDIENCE},
        headers=basic(client.client_id, client.secret + "x"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert response.headers["cache-control"] == "no-store"
    assert await auth_server.tenant.row_counts() == before


async def test_get_is_405(auth_server: AuthServer) -> None:
    response = await auth_server.http.get("/oauth/token")
    assert response.status_code == 405


async def test_repeated_failures_are_throttled_even_for_the_right_secret(
    auth_server: AuthServer,
) -> None:
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["create:timesheets"]})
    form = {"grant_type": "client_credentials", "audience": AUDIENCE, "client_id": client.client_id}
    for _ in range(auth_server.settings.auth_failure_limit):
        wrong = await auth_server.http.post("/oauth/token", data={**form, "client_secret": "no"})
        assert wrong.status_code == 401
    locked = await auth_server.http.post(
        "/oauth/token", data={**form, "client_secret": client.secret}
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1
    assert locked.headers["cache-control"] == "no-store"


async def test_unknown_parameters_do_not_break_a_request(auth_server: AuthServer) -> None:
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    response = await auth_server.http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "audience": AUDIENCE,
            "client_id": client.client_id,
            "client_secret": client.secret,
            "foo": "bar",
        },
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type", "error"),
    [
        (
            b"grant_type=client_credentials&grant_type=client_credentials",
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
        (b"grant_type=client_credentials", "text/plain", "invalid_request"),
        (b"audience=x", "application/x-www-form-urlencoded", "invalid_request"),
        (b"grant_type=password", "application/x-www-form-urlencoded", "unsupported_grant_type"),
        (b"grant_type=foo", "application/x-www-form-urlencoded", "unsupported_grant_type"),
        (b"\xff\xfe", "application/x-www-form-urlencoded", "invalid_request"),
    ],
)
async def test_malformed_requests(
    auth_server: AuthServer, content: bytes, content_type: str, error: str
) -> None:
    response = await auth_server.http.post(
        "/oauth/token", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


async def test_oversized_body_is_refused(auth_server: AuthServer) -> None:
    response = await auth_server.http.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&x=" + b"a" * 20000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert "exceeds" in response.json()["error_description"]


@pytest.mark.parametrize("length", ["²", "-1", "1e3"])
async def test_a_content_length_that_is_not_ascii_digits_is_an_invalid_request(
    length: str,
) -> None:
    """Either way the token endpoint reads its body, a declared length `int` cannot read
    (or that is no length) is refused as the oversized body is, never a 500."""

    async def receive() -> Message:
        return {"type": "http.request", "body": b"grant_type=x", "more_body": False}

    headers = [(b"content-length", length.encode("latin-1"))]
    request = Request({"type": "http", "method": "POST", "headers": headers}, receive)
    with pytest.raises(InvalidRequest, match="exceeds 1024 bytes"):
        await read_body(request, 1024)
    with pytest.raises(InvalidRequest, match="exceeds 1024 bytes"):
        await _read_asgi_body(receive, {b"content-length": length}, 1024)


async def test_a_scope_two_requested_apis_define_is_refused_even_unrequested(
    auth_server: AuthServer,
) -> None:
    """`read:timesheets` is granted on the first API only; the second defines it too and
    would accept it from a token for both, so the default scopes are `invalid_scope`."""
    other = "https://other.timesheets.test"
    await auth_server.tenant.create_api()
    await auth_server.tenant.create_api(other, scopes={"read:timesheets": "", "export": ""})
    client = await auth_server.tenant.machine_client(
        {AUDIENCE: ["read:timesheets"], other: ["export"]}
    )
    form = [
        ("grant_type", "client_credentials"),
        ("client_id", client.client_id),
        ("client_secret", client.secret),
        ("resource", AUDIENCE),
        ("resource", other),
    ]
    for scope in ([], [("scope", "export read:timesheets")]):
        response = await auth_server.http.post(
            "/oauth/token",
            content=urlencode(form + scope),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 400, response.text
        assert response.json() == {
            "error": "invalid_scope",
            "error_description": "scope read:timesheets is defined by more than one requested API",
        }


async def test_a_key_that_does_not_open_is_a_500_server_error_that_issues_nothing(
    auth_server: AuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A process whose key-encryption key no longer opens the current key (another
    instance made it with another one) answers JSON, never a bare 500, and says why."""
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    before = await auth_server.tenant.row_counts()
    async with other_key_encryption_key(auth_server) as http:
        answer = await http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client.client_id,
                "client_secret": client.secret,
                "audience": AUDIENCE,
            },
        )
    assert answer.status_code == 500
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "error": "server_error",
        "error_description": "the server cannot sign tokens now; try again later",
    }
    assert "TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY" in caplog.text
    assert await auth_server.tenant.row_counts() == before
