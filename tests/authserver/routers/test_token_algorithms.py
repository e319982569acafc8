"""Tokens signed with each API's algorithm, tokens for several APIs, and the permissions claim.

Asymmetric tokens are verified against the published JWKS with the algorithm the API
uses; HS256 tokens with the secret `create_api` returned once.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from tests.authserver.conftest import AUDIENCE, AuthServer
from tests.conftest import TEST_KEK
from timesheets.api.app import create_verifier
from timesheets.bearer.errors import InvalidToken
from timesheets.cli import app
from timesheets.settings import ApiSettings

pytestmark = pytest.mark.asyncio

REPORTS = "https://reports.timesheets.test"
READ_REPORTS = {"read:reports": "Read reports", "export:reports": "Export reports"}


async def request_token(server: AuthServer, client_id: str, secret: str, **form: Any) -> Any:
    """POST /oauth/token with client_secret_post and the given parameters."""
    return await server.http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            **form,
        },
    )


async def published_key(server: AuthServer, kid: str) -> jwt.PyJWK:
    """The published key with this kid."""
    document = (await server.http.get("/.well-known/jwks.json")).json()
    keys = {str(key.key_id): key for key in jwt.PyJWKSet.from_dict(document).keys}
    assert kid in keys, f"kid {kid} is not published"
    return keys[kid]


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS256"])
async def test_asymmetric_api_token_verifies_against_the_jwks(
    auth_server: AuthServer, alg: str
) -> None:
    await auth_server.tenant.create_api(signing_alg=alg)
    await auth_server.tenant.runtime.prepare_keys()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})

    response = await request_token(auth_server, client.client_id, client.secret, audience=AUDIENCE)

    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == alg
    assert header["typ"] == "at+jwt"
    key = await published_key(auth_server, header["kid"])
    assert key.algorithm_name == alg, "the token's kid names a key of another algorithm"
    claims = jwt.decode(token, key, algorithms=[alg], audience=AUDIENCE, issuer=auth_server.url)
    assert claims["scope"] == "read:timesheets"
    assert claims["client_id"] == client.client_id
    # Not verifiable as an RS256 token: the algorithm really is the API's.
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE)


async def test_hs256_api_token_verifies_with_the_api_secret(auth_server: AuthServer) -> None:
    created = await auth_server.tenant.create_api(signing_alg="HS256")
    other = await auth_server.tenant.create_api(REPORTS, scopes=READ_REPORTS, signing_alg="HS256")
    assert created.hs256_secret
    assert other.hs256_secret
    client = await auth_server.tenant.machine_client(
        {AUDIENCE: ["create:timesheets"], REPORTS: ["read:reports"]}
    )

    response = await request_token(auth_server, client.client_id, client.secret, audience=AUDIENCE)

    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert header["typ"] == "at+jwt"
    # A kid that names the API's secret: the same on every token, another for another
    # secret, and no part of the secret.
    kid = header["kid"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", kid), kid
    assert kid not in created.hs256_secret
    again = await request_token(auth_server, client.client_id, client.secret, audience=AUDIENCE)
    assert jwt.get_unverified_header(again.json()["access_token"])["kid"] == kid
    reports = await request_token(auth_server, client.client_id, client.secret, audience=REPORTS)
    assert jwt.get_unverified_header(reports.json()["access_token"])["kid"] not in (kid, None)
    claims = jwt.decode(
        token, created.hs256_secret, algorithms=["HS256"], audience=AUDIENCE, issuer=auth_server.url
    )
    assert claims["scope"] == "create:timesheets"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, created.hs256_secret + "x", algorithms=["HS256"], audience=AUDIENCE)


async def test_hs256_token_with_its_kid_is_accepted_by_an_api_configured_with_the_secret(
    auth_server: AuthServer,
) -> None:
    """The API's configured secret has no kid: the token's kid is no reason to refuse it."""
    created = await auth_server.tenant.create_api(signing_alg="HS256")
    assert created.hs256_secret
    client = await auth_server.tenant.machine_client({AUDIENCE: ["create:timesheets"]})
    response = await request_token(auth_server, client.client_id, client.secret, audience=AUDIENCE)
    token = response.json()["access_token"]
    assert "kid" in jwt.get_unverified_header(token)

    def api(secret: str) -> ApiSettings:
        return ApiSettings(
            issuer=auth_server.url, audience=AUDIENCE, algorithms=["HS256"], hs256_secret=secret
        )

    async with httpx.AsyncClient() as http:
        principal = await create_verifier(api(created.hs256_secret), http).verify(token)
        assert principal.claims["scope"] == "create:timesheets"
        with pytest.raises(InvalidToken):
            await create_verifier(api(created.hs256_secret + "x"), http).verify(token)


async def test_two_resources_give_a_token_for_both_with_scopes_of_each_grant(
    auth_server: AuthServer,
) -> None:
    await auth_server.tenant.create_api(token_lifetime=3600)
    await auth_server.tenant.create_api(REPORTS, scopes=READ_REPORTS, token_lifetime=600)
    client = await auth_server.tenant.machine_client(
        {AUDIENCE: ["read:timesheets", "create:timesheets"], REPORTS: ["read:reports"]}
    )

    response = await auth_server.http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.secret,
            "resource": [AUDIENCE, REPORTS],
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    token = body["access_token"]
    key = await published_key(auth_server, jwt.get_unverified_header(token)["kid"])
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=REPORTS, issuer=auth_server.url)
    assert claims["aud"] == [AUDIENCE, REPORTS]
    assert sorted(claims["scope"].split()) == [
        "create:timesheets",
        "read:reports",
        "read:timesheets",
    ]
    assert body["scope"] == claims["scope"]
    # The shortest lifetime of the two APIs.
    assert claims["exp"] - claims["iat"] == 600
    assert body["expires_in"] == 600
    assert "permissions" not in claims

    # Requesting some scopes of each API gives exactly those.
    narrowed = await auth_server.http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.secret,
            "resource": [AUDIENCE, REPORTS],
            "scope": "read:reports read:timesheets",
        },
    )
    assert narrowed.status_code == 200, narrowed.text
    assert sorted(narrowed.json()["scope"].split()) == ["read:reports", "read:timesheets"]


async def test_refused_multi_api_requests(auth_server: AuthServer) -> None:
    both_define_read = "https://also-timesheets.test"
    elliptic = "https://elliptic.timesheets.test"
    await auth_server.tenant.create_api()
    await auth_server.tenant.create_api(both_define_read)
    await auth_server.tenant.create_api(elliptic, signing_alg="ES256")
    await auth_server.tenant.runtime.prepare_keys()
    client = await auth_server.tenant.machine_client(
        {
            AUDIENCE: ["read:timesheets"],
            both_define_read: ["read:timesheets"],
            elliptic: ["read:timesheets"],
        }
    )
    before = await auth_server.tenant.row_counts()

    def form(*resources: str, scope: str | None = None) -> dict[str, str | list[str]]:
        fields: dict[str, str | list[str]] = {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.secret,
            "resource": list(resources),
        }
        return fields | ({"scope": scope} if scope else {})

    ambiguous = await auth_server.http.post(
        "/oauth/token", data=form(AUDIENCE, both_define_read, scope="read:timesheets")
    )
    assert ambiguous.status_code == 400, ambiguous.text
    assert ambiguous.json()["error"] == "invalid_scope"

    mixed = await auth_server.http.post("/oauth/token", data=form(AUDIENCE, elliptic))
    assert mixed.status_code == 400, mixed.text
    assert mixed.json()["error"] == "invalid_target"
    assert mixed.headers["cache-control"] == "no-store"

    # Each API alone is fine, so the refusals are about the combination.
    for resource in (AUDIENCE, both_define_read, elliptic):
        alone = await auth_server.http.post("/oauth/token", data=form(resource))
        assert alone.status_code == 200, f"{resource}: {alone.text}"
    assert await auth_server.tenant.row_counts() == before


async def test_permissions_claim_lists_the_granted_scopes(auth_server: AuthServer) -> None:
    await auth_server.tenant.create_api(permissions_claim=True)
    client = await auth_server.tenant.machine_client(
        {AUDIENCE: ["read:timesheets", "approve:timesheets"]}
    )

    response = await request_token(auth_server, client.client_id, client.secret, audience=AUDIENCE)

    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    key = await published_key(auth_server, jwt.get_unverified_header(token)["kid"])
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=auth_server.url)
    assert isinstance(claims["permissions"], list)
    assert sorted(claims["permissions"]) == ["approve:timesheets", "read:timesheets"]
    assert sorted(claims["permissions"]) == sorted(claims["scope"].split())

    narrowed = await request_token(
        auth_server, client.client_id, client.secret, audience=AUDIENCE, scope="approve:timesheets"
    )
    assert narrowed.status_code == 200, narrowed.text
    narrowed_claims = jwt.decode(
        narrowed.json()["access_token"], key, algorithms=["RS256"], audience=AUDIENCE
    )
    assert narrowed_claims["permissions"] == ["approve:timesheets"]


async def test_es256_api_created_with_its_test_client_by_the_admin_cli_issues_tokens_at_once(
    auth_server: AuthServer, tmp_path: Path
) -> None:
    """`admin api create --signing-alg ES256 --test-client`, then a token, no restart between."""
    runner = CliRunner()
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        [
            "admin",
            "--data-dir",
            str(tmp_path),
            "api",
            "create",
            "--name",
            "Elliptic",
            "--identifier",
            AUDIENCE,
            "--signing-alg",
            "ES256",
            "--scope",
            "read:timesheets=Read",
            "--test-client",
        ],
        env={
            "TIMESHEETS_AUTH_DATABASE_URL": auth_server.settings.database_url,
            "TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY": TEST_KEK,
        },
    )
    assert result.exit_code == 0, result.output
    client_id = re.search(r"^test client_id: (\S+)$", result.stdout, re.MULTILINE)
    secret = re.search(r"^test client_secret: (\S+)$", result.stdout, re.MULTILINE)
    assert client_id, result.stdout
    assert secret, result.stdout

    response = await request_token(
        auth_server, client_id.group(1), secret.group(1), audience=AUDIENCE
    )

    assert response.status_code == 200, f"{response.status_code} {response.text}"
    token = response.json()["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    key = await published_key(auth_server, header["kid"])
    claims = jwt.decode(token, key, algorithms=["ES256"], audience=AUDIENCE)
    assert claims["scope"] == "read:timesheets"
