"""The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0): it returns only to a
registered post-logout URI with `state`, asks before ending a session without a valid
id_token_hint, and refuses a bad hint. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from tests.authserver.conftest import AuthServer
from tests.authserver.flows import CSRF, authorize_and_login, pkce_pair
from tests.authserver.routers.test_interaction import (
    ORIGIN,
    PASSWORD,
    REDIRECT,
    _code,
    _exchange,
    _query,
    _spa,
)
from timesheets.authserver import admin, people
from timesheets.authserver.keys import generate_private_key

RETURN = "https://spa.example.com/signed-out"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


async def _signed_in(server: AuthServer) -> tuple[str, str]:
    """The SPA (with RETURN registered) and an ID token of Erin, who is signed in."""
    client_id = await _spa(server)
    await server.tenant.run(
        lambda s: admin.update_client(s, client_id, post_logout_redirect_uris=(RETURN,))
    )
    code, verifier = await _code(server, client_id)
    tokens = await _exchange(server, client_id, code, verifier)
    return client_id, tokens["id_token"]


def _has_session(server: AuthServer) -> bool:
    return any(cookie.name == "ts_session" for cookie in server.http.cookies.jar)


async def _still_signed_in(server: AuthServer, client_id: str) -> bool:
    """Whether /authorize answers without a login page (prompt=none succeeds)."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "prompt": "none",
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
    }
    answer = await server.http.get("/authorize?" + urlencode(query))
    return answer.status_code == 303 and "code=" in answer.headers["location"]


async def _logout(server: AuthServer, **params: str) -> httpx.Response:
    return await server.http.get("/logout?" + urlencode(params))


async def test_with_the_hint_the_session_ends_and_the_browser_returns_with_state(
    auth_server: AuthServer,
) -> None:
    client_id, id_token = await _signed_in(auth_server)
    assert await _still_signed_in(auth_server, client_id)
    answer = await _logout(
        auth_server, id_token_hint=id_token, post_logout_redirect_uri=RETURN, state="st 1"
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{RETURN}?state=st+1"
    assert not await _still_signed_in(auth_server, client_id)


async def test_a_post_logout_uri_that_is_not_registered_gets_a_signed_out_page(
    auth_server: AuthServer,
) -> None:
    client_id, id_token = await _signed_in(auth_server)
    for target in (REDIRECT, ORIGIN, RETURN + "/", RETURN + "?x=1", "https://evil.example/"):
        answer = await _logout(auth_server, id_token_hint=id_token, post_logout_redirect_uri=target)
        assert answer.status_code == 200, target
        assert "You are signed out" in answer.text
    assert not await _still_signed_in(auth_server, client_id)


async def test_without_a_hint_the_person_is_asked_and_the_answer_is_csrf_protected(
    auth_server: AuthServer,
) -> None:
    client_id, _id_token = await _signed_in(auth_server)
    page = await _logout(
        auth_server, client_id=client_id, post_logout_redirect_uri=RETURN, state="s2"
    )
    assert page.status_code == 200
    assert "Sign out of Timesheets?" in page.text
    assert await _still_signed_in(auth_server, client_id)
    fields = dict(HIDDEN.findall(page.text))
    assert fields.keys() == {"csrf", "client_id", "post_logout_redirect_uri", "state"}

    forged = {k: v for k, v in fields.items() if k != "csrf"} | {"decision": "sign_out"}
    refused = await auth_server.http.post("/logout/confirm", data=forged)
    assert refused.status_code == 403
    elsewhere = await auth_server.http.post(
        "/logout/confirm",
        data=fields | {"decision": "sign_out"},
        headers={"Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
    stay = await auth_server.http.post("/logout/confirm", data=fields | {"decision": "stay"})
    assert stay.status_code == 200
    assert "still signed in" in stay.text
    assert await _still_signed_in(auth_server, client_id)

    confirmed = await auth_server.http.post(
        "/logout/confirm", data=fields | {"decision": "sign_out"}
    )
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == f"{RETURN}?state=s2"
    assert not await _still_signed_in(auth_server, client_id)


async def test_a_bare_get_asks_and_ends_nothing(auth_server: AuthServer) -> None:
    client_id, _id_token = await _signed_in(auth_server)
    page = await auth_server.http.get("/logout")
    assert page.status_code == 200
    assert CSRF.search(page.text) is not None
    assert dict(HIDDEN.findall(page.text)).keys() == {"csrf"}
    assert await _still_signed_in(auth_server, client_id)


async def test_a_hint_of_another_person_is_asked_about(auth_server: AuthServer) -> None:
    client_id, erins_token = await _signed_in(auth_server)

    async def frank(session: Any) -> None:
        await people.create_user(
            session, email="frank@abc.example", name="Frank", password=PASSWORD
        )
        await people.assign_role(session, "frank@abc.example", "Employee")

    await auth_server.tenant.run(frank)
    auth_server.http.cookies.clear()
    _verifier, challenge = pkce_pair()
    await authorize_and_login(
        auth_server.http, _query(client_id, challenge), "frank@abc.example", PASSWORD
    )
    page = await _logout(auth_server, id_token_hint=erins_token, post_logout_redirect_uri=RETURN)
    assert page.status_code == 200
    assert "Sign out of Timesheets?" in page.text
    assert "id_token_hint" not in dict(HIDDEN.findall(page.text))
    assert await _still_signed_in(auth_server, client_id)


async def test_signed_out_already_the_browser_returns_to_a_registered_uri(
    auth_server: AuthServer,
) -> None:
    client_id, _id_token = await _signed_in(auth_server)
    auth_server.http.cookies.clear()
    answer = await _logout(auth_server, client_id=client_id, post_logout_redirect_uri=RETURN)
    assert answer.status_code == 303
    assert answer.headers["location"] == RETURN
    without_client = await _logout(auth_server, post_logout_redirect_uri=RETURN)
    assert without_client.status_code == 200
    assert "You are signed out" in without_client.text


async def test_refusals_show_an_error_page_and_end_nothing(auth_server: AuthServer) -> None:
    client_id, id_token = await _signed_in(auth_server)
    header, payload, signature = id_token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    signer = (await auth_server.tenant.runtime.keyring()).signer("RS256")
    assert signer is not None
    claims = jwt.decode(id_token, options={"verify_signature": False})
    other_issuer = jwt.encode(
        claims | {"iss": "https://evil.example"}, signer.key, "RS256", headers={"kid": signer.kid}
    )
    unknown_key = jwt.encode(
        claims, generate_private_key("RS256"), "RS256", headers={"kid": "not-ours"}
    )
    cases = {
        "a forged signature": {"id_token_hint": forged},
        "not a token": {"id_token_hint": "garbage"},
        "another issuer": {"id_token_hint": other_issuer},
        "a key not ours": {"id_token_hint": unknown_key},
        "a client_id other than the hint's": {"id_token_hint": id_token, "client_id": "other-app"},
        "an unknown client": {"client_id": "no-such-client"},
    }
    for case, params in cases.items():
        answer = await _logout(auth_server, **params, post_logout_redirect_uri=RETURN)
        assert answer.status_code == 400, case
        assert "location" not in answer.headers, case
        assert await _still_signed_in(auth_server, client_id), case
