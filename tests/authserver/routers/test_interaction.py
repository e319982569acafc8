"""The browser side of the authorization server: refusals of /authorize, PKCE at the token
step, expired codes, the implicit grant, login throttling, CSRF, pages and CORS."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import update

from tests.authserver.conftest import AUDIENCE, AuthServer
from tests.authserver.flows import CSRF, authorize_and_login, pkce_pair
from timesheets.authserver import admin, people
from timesheets.authserver.models import AuthorizationCode

REDIRECT = "https://spa.example.com/callback"
ORIGIN = "https://spa.example.com"
PASSWORD = "correct horse battery"


async def _spa(server: AuthServer, *, implicit: bool = False) -> str:
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
    assert location.startswith(REDIRECT + "?")
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


async def test_implicit_only_for_a_client_allowed_it(auth_server: AuthServer) -> None:
    client_id = await _spa(auth_server, implicit=True)
    result = await authorize_and_login(
        auth_server.http,
        {
            "response_type": "token",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "read:timesheets",
            "audience": AUDIENCE,
            "state": "s1",
        },
        "erin@abc.example",
        PASSWORD,
    )
    assert "#" in result.location
    assert result.params["token_type"] == "Bearer"
    assert "refresh_token" not in result.params


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
