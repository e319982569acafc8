"""Discovery (RFC 8414, OpenID discovery), the JWKS, the health check and the API docs.

Everything is read over HTTP from a running server, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from tests.authserver.conftest import AUDIENCE, AuthServer
from tests.live import serve_in_thread
from timesheets.authserver.app import create_app
from timesheets.authserver.store import key_record, load_keys
from timesheets.settings import AuthServerSettings

pytestmark = pytest.mark.asyncio

METADATA_PATHS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})
REPORTS_API = "https://reports.timesheets.test"


def b64url_int(value: str) -> int:
    """An unsigned integer from its base64url JWK encoding (RFC 7518 §6.3.1)."""
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


async def published_keys(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The keys of the JWKS document the server publishes."""
    response = await http.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    keys: list[dict[str, Any]] = response.json()["keys"]
    return keys


def assert_public_signing_keys(keys: list[dict[str, Any]]) -> None:
    """Every key is a public signing key with a unique kid and a known algorithm."""
    kids = [key["kid"] for key in keys]
    assert len(set(kids)) == len(kids), f"duplicate kids in the JWKS: {kids}"
    for key in keys:
        leaked = PRIVATE_JWK_MEMBERS & key.keys()
        assert not leaked, f"key {key['kid']} publishes private members {sorted(leaked)}"
        assert key["use"] == "sig"
        assert isinstance(key["kid"], str)
        assert key["kid"]
        if key["alg"] in ("RS256", "PS256"):
            assert key["kty"] == "RSA"
            assert b64url_int(key["n"]).bit_length() >= 2048
            assert b64url_int(key["e"]) == 65537
        elif key["alg"] == "ES256":
            assert (key["kty"], key["crv"]) == ("EC", "P-256")
        elif key["alg"] == "EdDSA":
            assert (key["kty"], key["crv"]) == ("OKP", "Ed25519")
        else:
            pytest.fail(f"unexpected algorithm {key['alg']!r} in the JWKS")


async def stored_kids(server: AuthServer, alg: str) -> dict[str, str]:
    """{kid: state} of the stored keys of one algorithm."""
    runtime = server.tenant.runtime
    rows = await server.tenant.run(load_keys)
    now = runtime.now()
    return {row.kid: key_record(row).state(now) for row in rows if row.alg == alg}


async def test_metadata_documents_describe_this_server(auth_server: AuthServer) -> None:
    await auth_server.tenant.create_api(
        scopes={"read:timesheets": "Read", "create:timesheets": "Create"}
    )
    await auth_server.tenant.create_api(REPORTS_API, scopes={"read:reports": "Read reports"})
    documents = []
    for path in METADATA_PATHS:
        response = await auth_server.http.get(path)
        assert response.status_code == 200, f"{path}: {response.text}"
        assert response.headers["content-type"].startswith("application/json")
        documents.append(response.json())
    oauth, openid = documents
    assert openid == oauth, "both discovery locations must serve the same metadata"

    issuer = auth_server.settings.issuer
    assert oauth["issuer"] == issuer
    assert oauth["token_endpoint"] == f"{issuer}/oauth/token"
    assert oauth["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    for name, value in oauth.items():
        if name.endswith(("_endpoint", "_uri")):
            assert value.startswith(f"{issuer}/"), f"{name} {value} is not under the issuer"
    grants = oauth["grant_types_supported"]
    assert "client_credentials" in grants
    assert len(set(grants)) == len(grants)
    assert "password" not in grants, "the password grant is advertised"
    methods = set(oauth["token_endpoint_auth_methods_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= methods
    assert methods <= {"client_secret_basic", "client_secret_post", "none"}
    scopes = oauth["scopes_supported"]
    assert len(set(scopes)) == len(scopes)
    assert {"create:timesheets", "read:reports", "read:timesheets"} <= set(scopes)

    # The advertised endpoints are the ones that answer.
    jwks = await auth_server.http.get(oauth["jwks_uri"])
    assert jwks.status_code == 200
    token = await auth_server.http.post(oauth["token_endpoint"], data={})
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_request"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_advertised_grant_types_are_those_the_token_endpoint_accepts(
    auth_server: AuthServer,
) -> None:
    metadata = (await auth_server.http.get(METADATA_PATHS[0])).json()
    # "implicit" (RFC 7591 grant type names) has no token request; every other one has.
    for grant_type in set(metadata["grant_types_supported"]) - {"implicit"}:
        response = await auth_server.http.post(
            metadata["token_endpoint"], data={"grant_type": grant_type, "client_id": "nobody-1"}
        )
        assert response.status_code in (400, 401), response.text
        assert response.json()["error"] != "unsupported_grant_type", f"{grant_type} is advertised"
    for grant_type in ("password", "urn:ietf:params:oauth:grant-type:device_code"):
        response = await auth_server.http.post(
            metadata["token_endpoint"], data={"grant_type": grant_type, "client_id": "nobody-1"}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "unsupported_grant_type"


async def test_metadata_scopes_follow_the_tenant(auth_server: AuthServer) -> None:
    before = (await auth_server.http.get(METADATA_PATHS[0])).json()["scopes_supported"]
    assert "approve:timesheets" not in before
    await auth_server.tenant.create_api(scopes={"approve:timesheets": "Approve"})
    after = (await auth_server.http.get(METADATA_PATHS[0])).json()["scopes_supported"]
    assert sorted(after) == sorted([*before, "approve:timesheets"])


async def test_jwks_initially_holds_exactly_the_current_and_next_rs256_keys(
    auth_server: AuthServer,
) -> None:
    keys = await published_keys(auth_server.http)
    assert_public_signing_keys(keys)
    assert [key["alg"] for key in keys] == ["RS256", "RS256"]
    stored = await stored_kids(auth_server, "RS256")
    assert sorted(stored.values()) == ["current", "next"]
    assert {key["kid"] for key in keys} == set(stored)

    response = await auth_server.http.get("/.well-known/jwks.json")
    assert response.headers["cache-control"] == "public, max-age=0"

    # Tokens are signed by the current key; the next key is published but does not sign yet.
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    issued = await auth_server.http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "audience": AUDIENCE,
            "client_id": client.client_id,
            "client_secret": client.secret,
        },
    )
    assert issued.status_code == 200, issued.text
    kid = jwt.get_unverified_header(issued.json()["access_token"])["kid"]
    assert stored[kid] == "current"
    assert await published_keys(auth_server.http) == keys, "issuing a token changed the JWKS"


async def test_es256_api_gets_es256_keys_when_keys_are_prepared(auth_server: AuthServer) -> None:
    await auth_server.tenant.create_api(signing_alg="ES256")
    await auth_server.tenant.runtime.prepare_keys()

    keys = await published_keys(auth_server.http)
    assert_public_signing_keys(keys)
    by_alg: dict[str, list[str]] = {}
    for key in keys:
        by_alg.setdefault(key["alg"], []).append(key["kid"])
    assert sorted(by_alg) == ["ES256", "RS256"]
    assert len(by_alg["ES256"]) == 2
    assert len(by_alg["RS256"]) == 2
    assert set(by_alg["ES256"]) == set(await stored_kids(auth_server, "ES256"))

    # Preparing again (as every start does) adds nothing.
    await auth_server.tenant.runtime.prepare_keys()
    assert {k["kid"] for k in await published_keys(auth_server.http)} == {k["kid"] for k in keys}


async def test_server_restart_adds_keys_for_a_new_es256_api(
    auth_server: AuthServer, make_auth_settings: Callable[..., AuthServerSettings]
) -> None:
    await auth_server.tenant.create_api(signing_alg="ES256")
    # A second server process on the same database: its start prepares the keys.
    settings = make_auth_settings(auth_server.settings.database_url)
    restarted = serve_in_thread(create_app(settings), settings.port)
    try:
        async with httpx.AsyncClient(base_url=restarted.url, timeout=30) as http:
            keys = await published_keys(http)
    finally:
        restarted.stop()
    assert_public_signing_keys(keys)
    assert sorted(key["alg"] for key in keys) == ["ES256", "ES256", "RS256", "RS256"]
    # The first server reads the same keys from the database.
    assert {k["kid"] for k in await published_keys(auth_server.http)} == {k["kid"] for k in keys}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_healthz_docs_and_openapi(auth_server: AuthServer) -> None:
    health = await auth_server.http.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}

    docs = await auth_server.http.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "swagger" in docs.text.lower()
    assert "/openapi.json" in docs.text

    response = await auth_server.http.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    token = schema["paths"]["/oauth/token"]["post"]
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert "grant_type" in form["required"]
    # The documented grant types are the ones the server supports and advertises.
    metadata = (await auth_server.http.get(METADATA_PATHS[0])).json()
    assert sorted(form["properties"]["grant_type"]["enum"]) == sorted(
        set(metadata["grant_types_supported"]) - {"implicit"}
    )
    assert {"200", "400", "401"} <= set(token["responses"])
    success = token["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"access_token", "token_type", "expires_in"} <= set(success["required"])
    for path in (*METADATA_PATHS, "/.well-known/jwks.json", "/healthz"):
        assert "get" in schema["paths"][path], f"{path} is not documented"
