"""Authorization code + PKCE, refresh rotation, revocation, introspection and UserInfo,
against a running server with a scripted login."""

from __future__ import annotations

import jwt
import pytest

from tests.authserver.conftest import AUDIENCE, AuthServer, other_key_encryption_key
from tests.authserver.flows import authorize_and_login, pkce_pair
from timesheets.authserver import admin, people

REDIRECT = "https://spa.example.com/callback"
PASSWORD = "correct horse battery"


async def _setup(server: AuthServer, role_scopes: list[str]) -> str:
    await server.tenant.create_api()

    async def work(session):  # type: ignore[no-untyped-def]
        created = await admin.create_client(
            session,
            name="SPA",
            app_type="spa",
            redirect_uris=(REDIRECT,),
            web_origins=("https://spa.example.com",),
        )
        await admin.add_grant(
            session, "SPA", AUDIENCE, ["read:timesheets", "create:timesheets", "approve:timesheets"]
        )
        await people.create_role(session, "Employee", permissions={AUDIENCE: role_scopes})
        await people.create_user(session, email="erin@abc.example", name="Erin", password=PASSWORD)
        await people.assign_role(session, "erin@abc.example", "Employee")
        return created.client.client_id

    client_id: str = await server.tenant.run(work)
    return client_id


def _query(client_id: str, challenge: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile offline_access read:timesheets approve:timesheets",
        "audience": AUDIENCE,
        "state": "st-\u00e9 1",
        "nonce": "n-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    } | extra


async def test_code_pkce_refresh_and_replay(auth_server: AuthServer) -> None:
    client_id = await _setup(auth_server, ["read:timesheets", "create:timesheets"])
    verifier, challenge = pkce_pair()
    result = await authorize_and_login(
        auth_server.http, _query(client_id, challenge), "erin@abc.example", PASSWORD
    )
    assert result.location.startswith(REDIRECT + "?")
    assert result.params["state"] == "st-\u00e9 1"
    assert result.params["iss"] == auth_server.url
    form = {
        "grant_type": "authorization_code",
        "code": result.params["code"],
        "redirect_uri": REDIRECT,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    tokens = (await auth_server.http.post("/oauth/token", data=form)).json()
    # Role scopes AND client grant AND request: approve is requested and granted to the
    # client, but the Employee role does not permit it.
    assert tokens["scope"] == "openid profile offline_access read:timesheets"
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert id_token["aud"] == client_id
    assert id_token["nonce"] == "n-123"
    assert id_token["name"] == "Erin"
    access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert AUDIENCE in access["aud"]

    replay = await auth_server.http.post("/oauth/token", data=form)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # The replay revoked the grant: the refresh token from the first exchange is dead.
    dead = await auth_server.http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client_id,
        },
    )
    assert dead.json()["error"] == "invalid_grant"


async def _code_form(server: AuthServer, client_id: str, **extra: str) -> dict[str, str]:
    """The token request redeeming a code issued to Erin (`extra` in the authorization
    request)."""
    verifier, challenge = pkce_pair()
    result = await authorize_and_login(
        server.http, _query(client_id, challenge, **extra), "erin@abc.example", PASSWORD
    )
    return {
        "grant_type": "authorization_code",
        "code": result.params["code"],
        "redirect_uri": REDIRECT,
        "client_id": client_id,
        "code_verifier": verifier,
    }


async def _signed_in(server: AuthServer, client_id: str, **extra: str) -> dict[str, str]:
    """The token response of a code redeemed for Erin (`extra` in the authorization
    request)."""
    form = await _code_form(server, client_id, **extra)
    tokens: dict[str, str] = (await server.http.post("/oauth/token", data=form)).json()
    return tokens


async def _refreshed(
    server: AuthServer, client_id: str, refresh_token: str, **extra: str
) -> dict[str, str]:
    form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token}
    answer = await server.http.post("/oauth/token", data=form | extra)
    assert answer.status_code == 200, answer.text
    tokens: dict[str, str] = answer.json()
    return tokens


def _access_claims(tokens: dict[str, str]) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(
        tokens["access_token"], options={"verify_signature": False}
    )
    return claims


def _access_scope(tokens: dict[str, str]) -> str:
    return str(_access_claims(tokens)["scope"])


async def test_the_apis_access_token_names_the_person_only_with_profile(
    auth_server: AuthServer,
) -> None:
    """With `profile` granted the API learns the person's name, on refresh too; without
    it, only their subject."""
    client_id = await _setup(auth_server, ["read:timesheets"])
    tokens = await _signed_in(auth_server, client_id)
    assert _access_claims(tokens)["name"] == "Erin"
    refreshed = await _refreshed(auth_server, client_id, tokens["refresh_token"])
    assert _access_claims(refreshed)["name"] == "Erin"

    scope = "openid offline_access read:timesheets"
    plain = await _signed_in(auth_server, client_id, scope=scope, prompt="login")
    assert plain["scope"] == scope
    assert "name" not in _access_claims(plain)
    narrowed = await _refreshed(
        auth_server, client_id, refreshed["refresh_token"], scope="openid read:timesheets"
    )
    assert "name" not in _access_claims(narrowed)


async def test_a_key_that_does_not_open_spends_neither_a_code_nor_a_refresh_token(
    auth_server: AuthServer,
) -> None:
    """A process that cannot sign answers 500 before it uses up the code or the refresh
    token, so the client's retry with a working process succeeds instead of being taken
    for a replay that revokes the grant."""
    client_id = await _setup(auth_server, ["read:timesheets"])
    tokens = await _signed_in(auth_server, client_id)
    form = await _code_form(auth_server, client_id, prompt="login")
    refresh = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "refresh_token": tokens["refresh_token"],
    }
    before = await auth_server.tenant.row_counts()
    async with other_key_encryption_key(auth_server) as other:
        refused = [await other.post("/oauth/token", data=data) for data in (refresh, form)]
    assert [answer.status_code for answer in refused] == [500, 500]
    assert {answer.json()["error"] for answer in refused} == {"server_error"}
    assert await auth_server.tenant.row_counts() == before
    refreshed = await _refreshed(auth_server, client_id, tokens["refresh_token"])
    assert _access_scope(refreshed) == "openid profile offline_access read:timesheets"
    redeemed = await auth_server.http.post("/oauth/token", data=form)
    assert redeemed.status_code == 200, redeemed.text


async def test_refresh_rotation_and_reuse_revokes_family(auth_server: AuthServer) -> None:
    client_id = await _setup(auth_server, ["read:timesheets"])
    first = await _signed_in(auth_server, client_id)
    refresh = {"grant_type": "refresh_token", "client_id": client_id}
    second = await _refreshed(auth_server, client_id, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    reuse = await auth_server.http.post(
        "/oauth/token", data=refresh | {"refresh_token": first["refresh_token"]}
    )
    assert reuse.json()["error"] == "invalid_grant"
    after = await auth_server.http.post(
        "/oauth/token", data=refresh | {"refresh_token": second["refresh_token"]}
    )
    assert after.json()["error"] == "invalid_grant"
    userinfo = await auth_server.http.get(
        "/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert userinfo.status_code == 401


async def test_refresh_drops_a_scope_whose_role_was_taken_away(auth_server: AuthServer) -> None:
    client_id = await _setup(auth_server, ["read:timesheets", "approve:timesheets"])
    tokens = await _signed_in(auth_server, client_id)
    full = "openid profile offline_access read:timesheets approve:timesheets"
    assert tokens["scope"] == full

    async def demote(session):  # type: ignore[no-untyped-def]
        await people.unassign_role(session, "erin@abc.example", "Employee")

    await auth_server.tenant.run(demote)
    demoted = await _refreshed(auth_server, client_id, tokens["refresh_token"])
    assert demoted["scope"] == "openid profile offline_access"
    assert _access_scope(demoted) == demoted["scope"]

    async def restore(session):  # type: ignore[no-untyped-def]
        await people.assign_role(session, "erin@abc.example", "Employee")

    await auth_server.tenant.run(restore)
    # The grant itself is unchanged: with the role back, its scopes come back.
    restored = await _refreshed(auth_server, client_id, demoted["refresh_token"])
    assert restored["scope"] == full


async def test_refresh_asking_for_fewer_scopes_keeps_the_grant(auth_server: AuthServer) -> None:
    client_id = await _setup(auth_server, ["read:timesheets", "approve:timesheets"])
    tokens = await _signed_in(auth_server, client_id)
    narrow = await _refreshed(
        auth_server, client_id, tokens["refresh_token"], scope="read:timesheets"
    )
    assert narrow["scope"] == "read:timesheets"
    assert _access_scope(narrow) == "read:timesheets"
    assert "id_token" not in narrow
    # RFC 6749 §6: the new refresh token has the old one's scope, offline_access included.
    again = await _refreshed(auth_server, client_id, narrow["refresh_token"])
    assert again["scope"] == "openid profile offline_access read:timesheets approve:timesheets"
    assert "id_token" in again


async def test_public_client_without_pkce_is_refused_with_state(auth_server: AuthServer) -> None:
    client_id = await _setup(auth_server, ["read:timesheets"])
    query = _query(client_id, "x")
    query.pop("code_challenge")
    query.pop("code_challenge_method")
    from urllib.parse import urlencode

    answer = await auth_server.http.get("/authorize?" + urlencode(query))
    assert answer.status_code == 303
    assert "error=invalid_request" in answer.headers["location"]
    assert "state=st-%C3%A9+1" in answer.headers["location"]


@pytest.mark.parametrize(
    "redirect",
    [
        REDIRECT + "/",
        REDIRECT + "x",
        "https://SPA.example.com/callback",
        "http://spa.example.com/callback",
        REDIRECT + "?x=1",
        "https://spa.example.com.evil.com/callback",
    ],
)
async def test_redirect_uri_must_match_exactly(auth_server: AuthServer, redirect: str) -> None:
    client_id = await _setup(auth_server, ["read:timesheets"])
    from urllib.parse import urlencode

    _verifier, challenge = pkce_pair()
    answer = await auth_server.http.get(
        "/authorize?" + urlencode(_query(client_id, challenge, redirect_uri=redirect))
    )
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert answer.headers["x-frame-options"] == "DENY"
