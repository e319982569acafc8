"""The browser side of the authorization server: refusals of /authorize, PKCE at the token
step, expired codes, the implicit grant, login throttling, CSRF, pages and CORS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jwt
import pytest
from sqlalchemy import update

from tests.authserver.conftest import AUDIENCE, AuthServer, other_key_encryption_key
from tests.authserver.flows import CSRF, authorize_and_login, pkce_pair
from timesheets.authserver import admin, people
from timesheets.authserver.models import AuthorizationCode

REDIRECT = "https://spa.example.com/callback"
ORIGIN = "https://spa.example.com"
PASSWORD = "correct horse battery"


async def _spa(server: AuthServer, *, implicit: bool = False, first_party: bool = True) -> str:
    await server.tenant.create_api()

    async def work(session):  # type: ignore[no-untyped-def]
        grants = ("authorization_code", "refresh_token", "implicit") if implicit else None
        created = await admin.create_client(
            session,
            name="SPA",
            app_type="spa",
            redirect_uris=(REDIRECT,),
            web_origins=(ORIGIN,),
            grant_types=grants,
        )
        created.client.first_party = first_party
        await admin.add_grant(session, "SPA", AUDIENCE, ["read:timesheets"])
        await people.create_role(session, "Employee", permissions={AUDIENCE: ["read:timesheets"]})
        await people.create_user(session, email="erin@abc.example", name="Erin", password=PASSWORD)
        await people.assign_role(session, "erin@abc.example", "Employee")
        return created.client.client_id

    client_id: str = await server.tenant.run(work)
    return client_id


def _query(client_id: str, challenge: str, **extra: str) -> dict[str, str]:
    base = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid read:timesheets",
        "audience": AUDIENCE,
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return {k: v for k, v in (base | extra).items() if v != ""}


async def _code(server: AuthServer, client_id: str) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    result = await authorize_and_login(
        server.http, _query(client_id, challenge), "erin@abc.example", PASSWORD
    )
    return result.params["code"], verifier


async def _exchange(
    server: AuthServer, client_id: str, code: str, verifier: str | None
) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": client_id,
    }
    if verifier is not None:
        form["code_verifier"] = verifier
    response = await server.http.post("/oauth/token", data=form)
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, str] = response.json()
    return body


@pytest.mark.parametrize("verifier", [None, "wrong", "x" * 43])
async def test_missing_or_wrong_verifier_is_invalid_grant_and_burns_the_code(
    auth_server: AuthServer, verifier: str | None
) -> None:
    """RFC 7636 §4.6; RFC 9700 §4.8.2: a failed verification burns the code."""
    client_id = await _spa(auth_server)
    code, good = await _code(auth_server, client_id)
    assert (await _exchange(auth_server, client_id, code, verifier))["error"] == "invalid_grant"
    assert (await _exchange(auth_server, client_id, code, good))["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"code_challenge": "", "code_challenge_method": ""}, "invalid_request"),
        ({"response_type": ""}, "invalid_request"),
        ({"response_type": "token"}, "unauthorized_client"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "read:timesheets bogus:scope"}, "invalid_scope"),
    ],
)
async def test_refusals_after_the_redirect_uri_go_back_with_state(
    auth_server: AuthServer, extra: dict[str, str], error: str
) -> None:
    """RFC 6749 §4.1.2.1, RFC 7636 §4.4.1, RFC 9700 §2.1.1 (plain refused)."""
    client_id = await _spa(auth_server)
    _verifier, challenge = pkce_pair()
    before = await auth_server.tenant.row_counts()
    answer = await auth_server.http.get(
        "/authorize?" + urlencode(_query(client_id, challenge, **extra))
    )
    if error == "invalid_scope":
        # The scope is judged after login, when the user's roles are known.
        result = await authorize_and_login(
            auth_server.http, _query(client_id, challenge, **extra), "erin@abc.example", PASSWORD
        )
        assert result.params["error"] == error
        return
    assert answer.status_code == 303
    location = answer.headers["location"]
    # RFC 6749 §4.2.2.1: a request for the implicit grant gets its error in the fragment.
    assert location.startswith(REDIRECT + ("#" if extra.get("response_type") == "token" else "?"))
    assert f"error={error}" in location
    assert "state=s1" in location
    after = await auth_server.tenant.row_counts()
    assert after["authorization_codes"] == before["authorization_codes"]


async def test_unknown_client_and_duplicate_parameters_show_a_page(auth_server: AuthServer) -> None:
    client_id = await _spa(auth_server)
    unknown = await auth_server.http.get("/authorize?client_id=nobody&response_type=code")
    assert unknown.status_code == 400
    assert "location" not in unknown.headers
    duplicated = await auth_server.http.get(
        f"/authorize?client_id={client_id}&client_id={client_id}&response_type=code"
    )
    assert duplicated.status_code == 400


async def test_an_expired_code_is_invalid_grant(auth_server: AuthServer) -> None:
    client_id = await _spa(auth_server)
    code, verifier = await _code(auth_server, client_id)

    async def expire(session):  # type: ignore[no-untyped-def]
        await session.execute(
            update(AuthorizationCode).values(expires_at=admin.now_utc() - timedelta(seconds=1))
        )

    await auth_server.tenant.run(expire)
    assert (await _exchange(auth_server, client_id, code, verifier))["error"] == "invalid_grant"


async def test_another_clients_code_is_invalid_grant(auth_server: AuthServer) -> None:
    client_id = await _spa(auth_server)
    other = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]}, name="Other")
    code, verifier = await _code(auth_server, client_id)
    response = await auth_server.http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": other.client_id,
            "client_secret": other.secret,
        },
    )
    assert response.json()["error"] in ("invalid_grant", "unauthorized_client")


def _implicit(client_id: str) -> dict[str, str]:
    return {
        "response_type": "token",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "read:timesheets",
        "audience": AUDIENCE,
        "state": "s1",
    }


async def test_implicit_only_for_a_client_allowed_it(auth_server: AuthServer) -> None:
    client_id = await _spa(auth_server, implicit=True)
    result = await authorize_and_login(
        auth_server.http, _implicit(client_id), "erin@abc.example", PASSWORD
    )
    assert "#" in result.location
    assert result.params["token_type"] == "Bearer"
    assert "refresh_token" not in result.params


async def test_implicit_tokens_that_cannot_be_signed_are_a_server_error_in_the_fragment(
    auth_server: AuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 6749 §4.2.2.1: when the current key does not open (another key-encryption
    key), the client hears `server_error` in the fragment, with its state."""
    client_id = await _spa(auth_server, implicit=True)
    async with other_key_encryption_key(auth_server) as http:
        result = await authorize_and_login(http, _implicit(client_id), "erin@abc.example", PASSWORD)
    assert result.location.startswith(REDIRECT + "#")
    assert result.params["error"] == "server_error"
    assert result.params["state"] == "s1"
    assert "access_token" not in result.params
    assert "TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY" in caplog.text


async def test_implicit_id_token_carries_at_hash_and_no_refresh_token_is_made(
    auth_server: AuthServer,
) -> None:
    """OpenID Connect Core §3.2.2.10: at_hash is required beside an access token;
    RFC 9700 §2.1.2: no refresh token through the front channel, none stored either."""
    client_id = await _spa(auth_server, implicit=True)
    before = await auth_server.tenant.row_counts()
    result = await authorize_and_login(
        auth_server.http,
        {
            "response_type": "id_token token",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid offline_access read:timesheets",
            "audience": AUDIENCE,
            "nonce": "n-1",
        },
        "erin@abc.example",
        PASSWORD,
    )
    claims = jwt.decode(result.params["id_token"], options={"verify_signature": False})
    digest = hashlib.sha256(result.params["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert "offline_access" not in result.params["scope"].split()
    after = await auth_server.tenant.row_counts()
    assert after["refresh_tokens"] == before["refresh_tokens"]


async def _signed_in(server: AuthServer, client_id: str) -> str:
    """Sign Erin in (the session cookie stays in the client's jar); the PKCE challenge."""
    _verifier, challenge = pkce_pair()
    await authorize_and_login(
        server.http, _query(client_id, challenge), "erin@abc.example", PASSWORD
    )
    return challenge


def _answer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    return dict(parse_qsl(urlsplit(response.headers["location"]).query))


async def test_prompt_none_never_shows_the_consent_page(auth_server: AuthServer) -> None:
    """OpenID Connect Core §3.1.2.1: with prompt=none the server must not show a consent
    page; a client that needs consent gets consent_required, with state and iss."""
    client_id = await _spa(auth_server, first_party=False)
    challenge = pkce_pair()[1]
    page = await auth_server.http.get("/authorize?" + urlencode(_query(client_id, challenge)))
    assert page.status_code == 200
    assert 'name="csrf"' in page.text
    signed_in = await auth_server.http.post(
        "/login",
        data={
            "csrf": CSRF.findall(page.text)[0],
            "authorize": urlencode(_query(client_id, challenge)),
            "email": "erin@abc.example",
            "password": PASSWORD,
        },
    )
    assert signed_in.status_code == 200  # the consent page
    before = await auth_server.tenant.row_counts()
    silent = await auth_server.http.get(
        "/authorize?" + urlencode(_query(client_id, challenge, prompt="none"))
    )
    params = _answer(silent)
    assert params["error"] == "consent_required"
    assert params["state"] == "s1"
    assert params["iss"] == auth_server.url
    assert await auth_server.tenant.row_counts() == before


async def test_max_age_past_asks_the_person_to_sign_in_again(auth_server: AuthServer) -> None:
    """OpenID Connect Core §3.1.2.1: past max_age the server re-authenticates; with
    prompt=none it answers login_required instead."""
    client_id = await _spa(auth_server)
    challenge = await _signed_in(auth_server, client_id)
    recent = _answer(
        await auth_server.http.get(
            "/authorize?" + urlencode(_query(client_id, challenge, max_age="3600"))
        )
    )
    assert recent["code"]
    await asyncio.sleep(1.1)
    stale = await auth_server.http.get(
        "/authorize?" + urlencode(_query(client_id, challenge, max_age="0"))
    )
    assert stale.status_code == 200
    assert 'name="password"' in stale.text
    silent = _answer(
        await auth_server.http.get(
            "/authorize?" + urlencode(_query(client_id, challenge, max_age="0", prompt="none"))
        )
    )
    assert silent["error"] == "login_required"


@pytest.mark.parametrize(
    "extra",
    [
        {"prompt": "none login"},
        {"prompt": "sometimes"},
        {"prompt": "login login"},
        {"max_age": "-1"},
        {"max_age": "soon"},
        {"max_age": "1.5"},
        {"max_age": "\u0661"},
    ],
)
async def test_bad_prompt_or_max_age_is_invalid_request(
    auth_server: AuthServer, extra: dict[str, str]
) -> None:
    client_id = await _spa(auth_server)
    challenge = await _signed_in(auth_server, client_id)
    before = await auth_server.tenant.row_counts()
    answer = _answer(
        await auth_server.http.get("/authorize?" + urlencode(_query(client_id, challenge, **extra)))
    )
    assert answer["error"] == "invalid_request"
    assert answer["state"] == "s1"
    assert await auth_server.tenant.row_counts() == before


async def test_redirect_uri_left_out_of_both_requests_is_accepted(auth_server: AuthServer) -> None:
    """RFC 6749 §4.1.3: redirect_uri is required at the token endpoint only if the
    authorization request included it, and must then be identical."""
    client_id = await _spa(auth_server)
    await _signed_in(auth_server, client_id)

    async def redeem(included: bool, sent: str | None) -> dict[str, str]:
        verifier, challenge = pkce_pair()
        query = _query(client_id, challenge, redirect_uri=REDIRECT if included else "")
        code = _answer(await auth_server.http.get("/authorize?" + urlencode(query)))["code"]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "code_verifier": verifier,
        } | ({"redirect_uri": sent} if sent else {})
        answer: dict[str, str] = (await auth_server.http.post("/oauth/token", data=form)).json()
        return answer

    assert "access_token" in await redeem(False, None)
    assert "access_token" in await redeem(False, REDIRECT)
    assert (await redeem(False, REDIRECT + "x"))["error"] == "invalid_grant"
    # Included at /authorize: required at the token endpoint.
    answer = await redeem(True, None)
    assert answer["error"] == "invalid_request"


async def test_login_is_throttled_and_errors_do_not_reveal_accounts(
    auth_server: AuthServer,
) -> None:
    client_id = await _spa(auth_server)
    _verifier, challenge = pkce_pair()
    page = await auth_server.http.get("/authorize?" + urlencode(_query(client_id, challenge)))
    csrf = CSRF.search(page.text)
    assert csrf is not None
    query = urlencode(_query(client_id, challenge))

    async def attempt(email: str, password: str) -> tuple[int, str]:
        answer = await auth_server.http.post(
            "/login",
            data={"csrf": csrf.group(1), "authorize": query, "email": email, "password": password},
        )
        return answer.status_code, answer.text.replace(email, "EMAIL")

    unknown = await attempt("nobody@abc.example", "whatever-password")
    wrong = await attempt("erin@abc.example", "wrong-password!")
    assert unknown == wrong
    assert unknown[0] == 401
    for _ in range(auth_server.settings.login_failure_limit):
        await attempt("erin@abc.example", "wrong-password!")
    locked, _text = await attempt("erin@abc.example", PASSWORD)
    assert locked == 429


async def test_login_without_csrf_or_from_another_origin_is_refused(
    auth_server: AuthServer,
) -> None:
    client_id = await _spa(auth_server)
    _verifier, challenge = pkce_pair()
    page = await auth_server.http.get("/authorize?" + urlencode(_query(client_id, challenge)))
    csrf = CSRF.search(page.text)
    assert csrf is not None
    form = {
        "authorize": urlencode(_query(client_id, challenge)),
        "email": "erin@abc.example",
        "password": PASSWORD,
    }
    before = await auth_server.tenant.row_counts()
    missing = await auth_server.http.post("/login", data=form)
    assert missing.status_code == 403
    cross = await auth_server.http.post(
        "/login", data=form | {"csrf": csrf.group(1)}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert await auth_server.tenant.row_counts() == before


async def test_pages_cannot_be_framed_and_session_cookie_is_httponly(
    auth_server: AuthServer,
) -> None:
    client_id = await _spa(auth_server)
    _verifier, challenge = pkce_pair()
    page = await auth_server.http.get("/authorize?" + urlencode(_query(client_id, challenge)))
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"]
    assert "access-control-allow-origin" not in page.headers
    await authorize_and_login(
        auth_server.http, _query(client_id, challenge), "erin@abc.example", PASSWORD
    )
    cookie = next(c for c in auth_server.http.cookies.jar if c.name == "ts_session")
    assert cookie.has_nonstandard_attr("HttpOnly")


async def test_cors_only_for_registered_origins(auth_server: AuthServer) -> None:
    await _spa(auth_server)
    form = {"grant_type": "client_credentials"}
    ours = await auth_server.http.post("/oauth/token", data=form, headers={"Origin": ORIGIN})
    assert ours.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in ours.headers["vary"]
    for origin in ("https://evil.example", "null"):
        other = await auth_server.http.post("/oauth/token", data=form, headers={"Origin": origin})
        assert "access-control-allow-origin" not in other.headers


async def test_a_refused_consent_for_the_implicit_grant_answers_in_the_fragment(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §4.2.2.1: access_denied goes back in the fragment, with state and iss."""
    client_id = await _spa(auth_server, implicit=True, first_party=False)
    query = _implicit(client_id)
    page = await auth_server.http.get("/authorize?" + urlencode(query))
    signed_in = await auth_server.http.post(
        "/login",
        data={
            "csrf": CSRF.findall(page.text)[0],
            "authorize": urlencode(query),
            "email": "erin@abc.example",
            "password": PASSWORD,
        },
    )
    assert 'name="decision"' in signed_in.text, signed_in.text
    denied = await auth_server.http.post(
        "/consent",
        data={"csrf": CSRF.findall(signed_in.text)[0], "authorize": urlencode(query)}
        | {"decision": "deny"},
    )
    assert denied.status_code == 303, denied.text
    parts = urlsplit(denied.headers["location"])
    assert parts.query == ""
    answer = dict(parse_qsl(parts.fragment))
    assert (answer["error"], answer["state"], answer["iss"]) == (
        "access_denied",
        "s1",
        auth_server.url,
    )
