"""Introspection (RFC 7662) and revocation (RFC 7009) of client credentials tokens."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from tests.authserver.conftest import AUDIENCE, AuthServer, MachineClient
from timesheets.authserver import grants, people

pytestmark = pytest.mark.asyncio

REPORTS = "https://reports.timesheets.test"


async def issue(server: AuthServer, client: MachineClient, audience: str = AUDIENCE) -> str:
    """A client credentials access token for `audience`."""
    response = await client.request_token(server.http, audience)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def introspect(server: AuthServer, client: MachineClient, token: str) -> dict[str, Any]:
    """What introspection says of `token`, asked by `client`."""
    response = await server.http.post(
        "/oauth/introspect",
        data={"token": token, "client_id": client.client_id, "client_secret": client.secret},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_fresh_hs256_token_is_active_with_its_claims(auth_server: AuthServer) -> None:
    """RFC 7662 §2.2: a token we issued and that has not expired is active."""
    await auth_server.tenant.create_api(signing_alg="HS256")
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    other = await auth_server.tenant.machine_client(name="Reports")
    token = await issue(auth_server, client)
    claims = jwt.decode(token, options={"verify_signature": False})

    answer = await introspect(auth_server, other, token)

    assert answer == {
        "active": True,
        "token_type": "Bearer",
        "scope": "read:timesheets",
        "client_id": client.client_id,
        "sub": f"{client.client_id}@clients",
        "exp": claims["exp"],
        "iat": claims["iat"],
        "aud": AUDIENCE,
        "iss": auth_server.url,
        "jti": claims["jti"],
    }


async def test_hs256_tokens_are_checked_as_strictly_as_the_others(
    auth_server: AuthServer,
) -> None:
    """Our claims re-signed with the API's secret are active; any one thing wrong is not."""
    created = await auth_server.tenant.create_api(signing_alg="HS256")
    await auth_server.tenant.create_api(REPORTS)
    assert created.hs256_secret is not None
    secret = created.hs256_secret.encode()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    claims = jwt.decode(await issue(auth_server, client), options={"verify_signature": False})
    at_jwt = {"typ": "at+jwt"}
    past = int(time.time()) - 7200

    def sign(changes: dict[str, Any], key: bytes = secret, **header: str) -> str:
        return jwt.encode(claims | changes, key, "HS256", headers=at_jwt | header)

    assert (await introspect(auth_server, client, sign({}, kid="any")))["active"] is True
    refused = {
        "another secret": sign({}, secret + b"x"),
        "expired": sign({"iat": past, "exp": past + 60}),
        "another issuer": sign({"iss": "https://evil.example"}),
        "no at+jwt typ": jwt.encode(claims, secret, "HS256"),
        "also for another API": sign({"aud": [AUDIENCE, REPORTS]}),
        "for an RS256 API": sign({"aud": REPORTS}),
        "for an unknown API": sign({"aud": "https://unknown.example"}),
        "alg none": jwt.encode(claims, None, "none", headers=at_jwt),
    }
    for reason, token in refused.items():
        assert await introspect(auth_server, client, token) == {"active": False}, reason


async def revoke(server: AuthServer, client: MachineClient, token: str) -> Any:
    """POST /oauth/revoke for `token`, authenticated as `client`."""
    return await server.http.post(
        "/oauth/revoke",
        data={"token": token, "client_id": client.client_id, "client_secret": client.secret},
    )


async def test_revoking_ones_own_client_credentials_token_is_unsupported_token_type(
    auth_server: AuthServer,
) -> None:
    """RFC 7009 §2.2.1: such a token has no grant to revoke, so a 200 would be untrue."""
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    token = await issue(auth_server, client)
    before = await auth_server.tenant.row_counts()

    response = await revoke(auth_server, client, token)

    assert response.status_code == 400, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "error": "unsupported_token_type",
        "error_description": (
            "a client credentials access token cannot be revoked: it is valid until it expires"
        ),
    }
    assert await auth_server.tenant.row_counts() == before
    assert (await introspect(auth_server, client, token))["active"] is True


async def test_revoking_another_clients_or_an_invalid_token_is_still_200(
    auth_server: AuthServer,
) -> None:
    """RFC 7009 §2.2: 200 for a token that is invalid or not the caller's; nothing leaks."""
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    other = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]}, name="B")
    token = await issue(auth_server, client)
    before = await auth_server.tenant.row_counts()
    for presented in (token, token[:-4] + "AAAA", "garbage"):
        response = await revoke(auth_server, other, presented)
        assert response.status_code == 200, response.text
        assert response.content == b""
    assert await auth_server.tenant.row_counts() == before


async def test_a_token_signed_with_an_hs256_apis_secret_revokes_no_grant(
    auth_server: AuthServer,
) -> None:
    """The HS256 API's resource server holds its secret and could sign any claims: such a
    token never names a grant to revoke (RFC 7009 §2.1: only the client's own tokens)."""
    runtime = auth_server.tenant.runtime
    api = await auth_server.tenant.create_api(signing_alg="HS256")
    owner = await auth_server.tenant.machine_client(name="Owner")
    forger = await auth_server.tenant.machine_client(name="Forger")
    async with runtime.sessions() as session, session.begin():
        user = await people.create_user(
            session, email="vic@abc.example", name="Vic", password="correct horse battery"
        )
        grant = await grants.create_grant(session, owner.client_id, user.id, runtime.now())
    now = int(time.time())
    for named in (forger.client_id, owner.client_id):
        claims = {
            "iss": auth_server.url,
            "aud": AUDIENCE,
            "sub": user.id,
            "client_id": named,
            "grant_id": grant.id,
            "iat": now,
            "exp": now + 300,
            "jti": f"forged-{named}",
            "scope": "",
        }
        forged = jwt.encode(claims, api.hs256_secret, "HS256", headers={"typ": "at+jwt"})
        answer = await auth_server.http.post(
            "/oauth/revoke",
            data={"token": forged, "client_id": forger.client_id, "client_secret": forger.secret},
        )
        assert answer.status_code == 200, answer.text
    async with runtime.sessions() as session:
        assert await grants.grant_active(session, grant.id)


async def test_a_persons_hs256_token_that_also_names_userinfo_is_active(
    auth_server: AuthServer,
) -> None:
    """A person's token asked with `openid` names our UserInfo endpoint beside the API;
    an HS256 one is still active, and one naming any other audience is not."""
    api = await auth_server.tenant.create_api(signing_alg="HS256")
    asker = await auth_server.tenant.machine_client(name="Asker")
    now = int(time.time())
    claims = {
        "iss": auth_server.url,
        "sub": "usr_1",
        "client_id": "spa",
        "iat": now,
        "exp": now + 300,
        "jti": "j-1",
        "scope": "openid read:timesheets",
    }
    for audiences, active in (
        ([AUDIENCE, f"{auth_server.url}/userinfo"], True),
        ([AUDIENCE, REPORTS], False),
    ):
        token = jwt.encode(
            claims | {"aud": audiences}, api.hs256_secret, "HS256", headers={"typ": "at+jwt"}
        )
        assert (await introspect(auth_server, asker, token))["active"] is active
