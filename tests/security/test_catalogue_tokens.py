"""Security catalogue (/work/shared/SECURITY-TESTS.md) sections C, D and F: the token
endpoint (T01-T08), the authorization code with PKCE (P01-P05), and refresh, revocation,
introspection and the ID token (F01-F05), against the running authorization server over
HTTP on SQLite and PostgreSQL.

Conventions: TE(x) is asserted as the exact status, `error`, `Cache-Control: no-store`,
`Pragma: no-cache`, a JSON body of only `error`/`error_description` and a description in
the RFC 6749 §5.2 character set; NP as unchanged row counts of every table. Expiry moves
the server's clock (`Runtime.now`/`Runtime.clock` of the served process); nothing sleeps.

Where a case does not apply as written to what we ship:
- NP "no outbound HTTP": the authorization server has no outbound HTTP client at all (it
  never fetches jku/x5u or anything else), so NP is checked as row counts only.
- T01 "JSON body -> invalid_request": a JSON body is accepted on purpose (the seed's
  clients post JSON, Auth0 style). Checked instead: only a flat object of strings, no
  duplicate members, UTF-8; every other media type is TE(invalid_request), NP.
- T05 "check with a spy": checked by a spy on `client_auth`'s `hmac` (the served process
  shares this interpreter) plus the stored rows: secrets are kept only as SHA-256 digests.
- T06: the throttle counts failed client authentications per client_id and per address
  (fixed window, `auth_failure_limit`); successful requests are not rate limited. The 429
  carries `error=invalid_request` (OAuth defines no code for it).
- T08 "sub=client_id": we ship the Auth0 convention the seed's API expects,
  `sub="<client_id>@clients"`, with `client_id` equal to the client's id.
- P02 "verifier outside 43-128 chars or the charset": at /authorize the challenge gives
  invalid_request; at the token step a malformed verifier fails verification (RFC 7636
  §4.6) and gives invalid_grant, burning the code, like a wrong one.
- P04/F01/F03 "RS 401": the resource server checked here is the AS's own /userinfo, which
  checks that the grant is alive; the Timesheets API's revocation window is case B05.
- P05: `redirect_uri` is always required at the token step (a missing one is
  invalid_request), stricter than RFC 6749 §4.1.3; a wrong one is invalid_grant.
- F04 "Rate-limited": failed client authentications at /oauth/introspect are throttled
  (429 with Retry-After), as at the token endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from tests.authserver import conftest as authserver_fixtures
from tests.authserver.conftest import AUDIENCE, AuthServer, MachineClient
from tests.authserver.flows import authorize_and_login, pkce_pair
from timesheets.authserver import admin, people
from timesheets.authserver.models import Base, ClientSecret, Grant
from timesheets.authserver.oauth import client_auth
from timesheets.authserver.runtime import Runtime

REDIRECT = "https://spa.example.com/callback"
REDIRECT2 = "https://spa.example.com/other"
OTHER_API = "https://other.api.test"
EMAIL = "erin@abc.example"
PASSWORD = "correct horse battery"
STATE = "st-\u00e9 1&x=%2F"
USER_SCOPE = "openid profile offline_access read:timesheets"
#: RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
SAFE_DESCRIPTION = re.compile(r"[\x20-\x21\x23-\x5B\x5D-\x7E]*")
BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

auth_server = authserver_fixtures.auth_server  # the running server, SQLite and PostgreSQL


# --- helpers ---------------------------------------------------------------------------------


@dataclass
class Setup:
    """The tenant of one test: an API, clients, and a user with a role."""

    spa: str  # public SPA: authorization_code + refresh_token, PKCE required
    other_spa: str  # another public SPA with the same redirect URIs
    web: MachineClient  # confidential regular_web client: PKCE optional
    machine: MachineClient  # confidential client_credentials client (read + create)
    resource: MachineClient  # confidential client that introspects


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An HTTP Basic Authorization header (RFC 6749 §2.3.1)."""
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def server_runtime(server: AuthServer) -> Runtime:
    """The Runtime of the served process (under whatever middleware wraps the app)."""
    app: Any = server.live.app
    for _ in range(8):
        runtime = getattr(getattr(app, "state", None), "runtime", None)
        if isinstance(runtime, Runtime):
            return runtime
        app = getattr(app, "app", None)
    raise AssertionError("no Runtime found under the served app")


def move_clock(monkeypatch: pytest.MonkeyPatch, server: AuthServer, seconds: float) -> None:
    """Move the served process's wall clock and throttle clock forward."""
    runtime = server_runtime(server)
    real_now, real_clock = type(runtime).now, type(runtime).clock
    monkeypatch.setattr(runtime, "now", lambda: real_now(runtime) + timedelta(seconds=seconds))
    monkeypatch.setattr(runtime, "clock", lambda: real_clock(runtime) + seconds)


def assert_no_store(response: httpx.Response) -> None:
    """RFC 6749 §5.1: token responses (and errors) are not cached."""
    assert response.headers["cache-control"] == "no-store", response.headers
    assert response.headers["pragma"] == "no-cache", response.headers


def assert_error(
    response: httpx.Response, status: int, error: str, *, basic: bool | None = False
) -> dict[str, str]:
    """TE(error) with `status`; a Basic challenge exactly when `basic` (None: not checked)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert_no_store(response)
    body: dict[str, str] = response.json()
    assert body["error"] == error, body
    assert set(body) <= {"error", "error_description"}, body
    assert SAFE_DESCRIPTION.fullmatch(body.get("error_description", "")), body
    if basic is True:
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Basic "), challenge
        assert 'realm="timesheets"' in challenge
    elif basic is False:
        assert "www-authenticate" not in response.headers
    return body


def assert_issued(response: httpx.Response) -> dict[str, Any]:
    """A 200 token response with its cache headers."""
    assert response.status_code == 200, response.text
    assert_no_store(response)
    body: dict[str, Any] = response.json()
    assert body["token_type"] == "Bearer"
    return body


async def setup(server: AuthServer) -> Setup:
    """Register the API, the clients and the user."""
    await server.tenant.create_api()
    await server.tenant.create_api(OTHER_API, scopes={"read:other": "Read other"})
    machine = await server.tenant.machine_client(
        {AUDIENCE: ["read:timesheets", "create:timesheets"], OTHER_API: ["read:other"]},
        name="Import Job",
    )
    resource = await server.tenant.machine_client({}, name="Timesheets API")

    async def work(session):  # type: ignore[no-untyped-def]
        spa = await admin.create_client(
            session, name="SPA", app_type="spa", redirect_uris=(REDIRECT, REDIRECT2)
        )
        other = await admin.create_client(
            session, name="Other SPA", app_type="spa", redirect_uris=(REDIRECT, REDIRECT2)
        )
        web = await admin.create_client(
            session,
            name="Web",
            app_type="regular_web",
            auth_method="client_secret_post",
            redirect_uris=(REDIRECT,),
        )
        await admin.add_grant(
            session, "SPA", AUDIENCE, ["read:timesheets", "create:timesheets", "approve:timesheets"]
        )
        await admin.add_grant(session, "Other SPA", AUDIENCE, ["read:timesheets"])
        await admin.add_grant(session, "Web", AUDIENCE, ["read:timesheets"])
        await people.create_role(
            session,
            "Employee",
            permissions={AUDIENCE: ["read:timesheets", "create:timesheets", "approve:timesheets"]},
        )
        await people.create_user(session, email=EMAIL, name="Erin", password=PASSWORD)
        await people.assign_role(session, EMAIL, "Employee")
        assert web.secret is not None
        return spa.client.client_id, other.client.client_id, web.client.client_id, web.secret

    spa, other, web_id, web_secret = await server.tenant.run(work)
    return Setup(spa, other, MachineClient(web_id, web_secret), machine, resource)


def query(client_id: str, challenge: str | None, **extra: str | None) -> dict[str, str]:
    """An authorization request (None drops a parameter)."""
    base: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": USER_SCOPE,
        "audience": AUDIENCE,
        "state": STATE,
        "nonce": "n-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256" if challenge is not None else None,
    }
    return {k: v for k, v in (base | extra).items() if v is not None}


def redirect_params(response: httpx.Response, redirect_uri: str = REDIRECT) -> dict[str, str]:
    """The parameters of a 303 back to the client's redirect URI."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def authorize(server: AuthServer, params: dict[str, str]) -> httpx.Response:
    """GET /authorize; the browser is signed in after the first login."""
    return await server.http.get("/authorize?" + urlencode(params))


async def sign_in(server: AuthServer, client_id: str) -> None:
    """Log the browser in once (the code it gets is thrown away)."""
    _verifier, challenge = pkce_pair()
    await authorize_and_login(server.http, query(client_id, challenge), EMAIL, PASSWORD)


async def new_code(
    server: AuthServer, client_id: str, *, pkce: bool = True, **extra: str | None
) -> tuple[str, str]:
    """A fresh authorization code and its verifier (logging in the first time)."""
    verifier, challenge = pkce_pair()
    params = query(client_id, challenge if pkce else None, **extra)
    answer = await authorize(server, params)
    if answer.status_code == 200:
        result = await authorize_and_login(server.http, params, EMAIL, PASSWORD)
        got = result.params
    else:
        got = redirect_params(answer, params["redirect_uri"])
    assert "code" in got, got
    assert got["state"] == STATE
    return got["code"], verifier


async def exchange(
    server: AuthServer, client_id: str, code: str, verifier: str | None, **extra: str | None
) -> httpx.Response:
    """POST an authorization_code token request (None drops a parameter)."""
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": client_id,
        "code_verifier": verifier,
    } | extra
    return await server.http.post(
        "/oauth/token", data={k: v for k, v in form.items() if v is not None}
    )


async def user_tokens(server: AuthServer, client_id: str, **extra: Any) -> dict[str, Any]:
    """Access, refresh and ID tokens through the code flow."""
    code, verifier = await new_code(server, client_id, **extra)
    tokens = assert_issued(await exchange(server, client_id, code, verifier))
    assert {"access_token", "refresh_token", "id_token"} <= set(tokens)
    return tokens


async def refresh(
    server: AuthServer, client_id: str, token: str, **extra: str | None
) -> httpx.Response:
    """POST a refresh_token token request."""
    form: dict[str, str | None] = {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": client_id,
        **extra,
    }
    return await server.http.post(
        "/oauth/token", data={k: v for k, v in form.items() if v is not None}
    )


async def introspect(server: AuthServer, client: MachineClient, token: str) -> dict[str, Any]:
    """RFC 7662 introspection by an authenticated client; asserts 200 and no-store."""
    response = await server.http.post(
        "/oauth/introspect",
        data={"token": token, "client_id": client.client_id, "client_secret": client.secret},
    )
    assert response.status_code == 200, response.text
    assert_no_store(response)
    body: dict[str, Any] = response.json()
    return body


async def assert_userinfo_refused(server: AuthServer, access_token: str) -> None:
    """The AS's own resource server answers RS401 (RFC 6750 §3.1)."""
    response = await server.http.get(
        "/userinfo", headers={"Authorization": f"Bearer {access_token}"}
    )
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="timesheets", error="invalid_token"'), challenge


async def assert_grant_dead(
    server: AuthServer, s: Setup, access_token: str, refresh_token: str
) -> None:
    """Introspection says exactly inactive for both tokens, and UserInfo refuses the AT."""
    assert await introspect(server, s.resource, access_token) == {"active": False}
    assert await introspect(server, s.resource, refresh_token) == {"active": False}
    await assert_userinfo_refused(server, access_token)


async def revoked_grants(server: AuthServer) -> int:
    """How many grants are revoked."""

    async def work(session):  # type: ignore[no-untyped-def]
        return await session.scalar(
            select(func.count()).select_from(Grant).where(Grant.revoked_at.is_not(None))
        )

    count: int = await server.tenant.run(work)
    return count


async def stored_values(server: AuthServer) -> list[str]:
    """Every stored value of every table, as text (bytes also as hex), to look for secrets."""

    async def work(session):  # type: ignore[no-untyped-def]
        values: list[str] = []
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                for value in row:
                    if isinstance(value, bytes):
                        values += [value.hex(), value.decode("latin-1")]
                    else:
                        values.append(str(value))
        return values

    values: list[str] = await server.tenant.run(work)
    return values


def entropy_bits(value: str) -> int:
    """Bits carried by a base64url token (each character carries 6)."""
    assert BASE64URL.fullmatch(value), value
    return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))) * 8


async def verify_jwt(server: AuthServer, token: str, audience: str) -> dict[str, Any]:
    """Verify a JWT against the published JWKS, RS256 only, exact issuer."""
    jwks = jwt.PyJWKSet.from_dict((await server.http.get("/.well-known/jwks.json")).json())
    header = jwt.get_unverified_header(token)
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=audience,
        issuer=server.url,
        options={"require": ["iss", "aud", "exp", "iat", "sub"]},
    )
    return claims


# --- C. Token endpoint -----------------------------------------------------------------------


async def test_T01_other_methods_are_405_with_allow_post(auth_server: AuthServer) -> None:
    """RFC 6749 §3.2: the token endpoint is POST only (RFC 9110 §15.5.6: with Allow)."""
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            response = await auth_server.http.request(method, path)
            assert response.status_code == 405, (method, path, response.text)
            assert "POST" in response.headers["allow"]


async def test_T01_bodies_other_than_a_form_are_invalid_request_and_store_nothing(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §3.2: application/x-www-form-urlencoded; valid credentials do not help."""
    s = await setup(auth_server)
    form = urlencode(
        {
            "grant_type": "client_credentials",
            "audience": AUDIENCE,
            "client_id": s.machine.client_id,
            "client_secret": s.machine.secret,
        }
    ).encode()
    before = await auth_server.tenant.row_counts()
    for content_type in (
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/x-www-form-urlencoded; charset=iso-8859-1",
        None,
    ):
        headers = {"Content-Type": content_type} if content_type else {}
        response = await auth_server.http.post("/oauth/token", content=form, headers=headers)
        assert_error(response, 400, "invalid_request")
    assert await auth_server.tenant.row_counts() == before
    # The same body as a form is issued: the refusals above were about the media type.
    assert_issued(await auth_server.http.post("/oauth/token", content=form, headers=FORM))


async def test_T01_json_body_only_as_a_flat_object_of_unique_strings(
    auth_server: AuthServer,
) -> None:
    """The seed's JSON body is accepted, but nothing looser (see the module docstring)."""
    s = await setup(auth_server)
    good = (
        f'{{"grant_type":"client_credentials","audience":"{AUDIENCE}",'
        f'"client_id":"{s.machine.client_id}","client_secret":"{s.machine.secret}"'
    )
    json_type = {"Content-Type": "application/json"}
    before = await auth_server.tenant.row_counts()
    for content in (
        "[" + good + "}]",
        good + f',"audience":"{AUDIENCE}"}}',  # duplicate member
        good + ',"scope":["read:timesheets"]}',
        good + ',"scope":null}',
        good + ',"x":{"y":1}}',
        good + ',"scope":NaN}',
        good,  # truncated
        '"grant_type=client_credentials"',
    ):
        response = await auth_server.http.post("/oauth/token", content=content, headers=json_type)
        assert_error(response, 400, "invalid_request")
    # RFC 8259 §8.2: a lone surrogate is no Unicode text, whichever parameter carries it.
    valid = {
        "grant_type": "client_credentials",
        "audience": AUDIENCE,
        "client_id": s.machine.client_id,
        "client_secret": s.machine.secret,
    }
    for name in ("client_id", "client_secret", "audience", "scope", "x"):
        lone = json.dumps(valid | {name: "\ud800"})  # ensure_ascii: sent as \\ud800
        response = await auth_server.http.post("/oauth/token", content=lone, headers=json_type)
        assert_error(response, 400, "invalid_request")
    latin1 = (good + ',"x":"\u00e9"}').encode("latin-1")
    assert_error(
        await auth_server.http.post("/oauth/token", content=latin1, headers=json_type),
        400,
        "invalid_request",
    )
    assert await auth_server.tenant.row_counts() == before
    assert_issued(
        await auth_server.http.post("/oauth/token", content=good + "}", headers=json_type)
    )


async def test_T02_missing_or_unsupported_grant_type(auth_server: AuthServer) -> None:
    """RFC 6749 §5.2: missing -> invalid_request; unknown -> unsupported_grant_type."""
    s = await setup(auth_server)
    creds = {"client_id": s.machine.client_id, "client_secret": s.machine.secret}
    before = await auth_server.tenant.row_counts()
    for form in ({"audience": AUDIENCE}, {"grant_type": "", "audience": AUDIENCE}):
        response = await auth_server.http.post("/oauth/token", data=form | creds)
        assert_error(response, 400, "invalid_request")
    for grant_type in (
        "password",
        "foo",
        "implicit",
        "CLIENT_CREDENTIALS",
        "client_credentials ",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ):
        response = await auth_server.http.post(
            "/oauth/token",
            data={"grant_type": grant_type, "audience": AUDIENCE, "username": EMAIL} | creds,
        )
        assert_error(response, 400, "unsupported_grant_type")
    assert await auth_server.tenant.row_counts() == before


async def test_T02_a_grant_not_allowed_for_the_client_is_unauthorized_client(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §5.2, RFC 9700 §2.4: each client may use only its registered grants."""
    s = await setup(auth_server)
    code, verifier = await new_code(auth_server, s.spa)
    before = await auth_server.tenant.row_counts()
    machine = {"client_id": s.machine.client_id, "client_secret": s.machine.secret}
    attempts = [
        # A machine client redeeming a (real) code, or refreshing.
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        | {"code_verifier": verifier}
        | machine,
        {"grant_type": "refresh_token", "refresh_token": "x" * 43} | machine,
        # A public SPA, and a web client without the grant, asking for client credentials.
        {"grant_type": "client_credentials", "audience": AUDIENCE, "client_id": s.spa},
        {"grant_type": "client_credentials", "audience": AUDIENCE}
        | {"client_id": s.web.client_id, "client_secret": s.web.secret},
    ]
    for form in attempts:
        response = await auth_server.http.post("/oauth/token", data=form)
        assert_error(response, 400, "unauthorized_client")
    assert await auth_server.tenant.row_counts() == before
    # The refusal did not touch the code: its own client still redeems it.
    assert_issued(await exchange(auth_server, s.spa, code, verifier))


async def test_T03_duplicated_parameters_are_invalid_request_and_burn_nothing(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §3.1: parameters MUST NOT be included more than once."""
    s = await setup(auth_server)
    code, verifier = await new_code(auth_server, s.spa)
    exchange_form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", s.spa),
        ("code_verifier", verifier),
    ]
    cc_form = [
        ("grant_type", "client_credentials"),
        ("audience", AUDIENCE),
        ("scope", "read:timesheets"),
        ("client_id", s.machine.client_id),
        ("client_secret", s.machine.secret),
    ]
    before = await auth_server.tenant.row_counts()
    for form in (exchange_form, cc_form):
        for name, value in form:
            for repeat in (value, "other"):
                body = urlencode([*form, (name, repeat)])
                response = await auth_server.http.post("/oauth/token", content=body, headers=FORM)
                assert_error(response, 400, "invalid_request")
    assert await auth_server.tenant.row_counts() == before
    # Nothing was consumed: the code and the client credentials still work.
    assert_issued(await exchange(auth_server, s.spa, code, verifier))
    assert_issued(
        await auth_server.http.post("/oauth/token", content=urlencode(cc_form), headers=FORM)
    )
    # RFC 8707 §2: `resource` alone may repeat.
    repeated = urlencode([*cc_form, ("resource", AUDIENCE), ("resource", AUDIENCE)])
    assert_issued(await auth_server.http.post("/oauth/token", content=repeated, headers=FORM))


async def test_T04_bad_basic_secret_is_401_with_a_basic_challenge(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §5.2: invalid_client, 401 and WWW-Authenticate when Basic was used."""
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client(
        {AUDIENCE: ["read:timesheets"]}, auth_method="client_secret_basic"
    )
    form = {"grant_type": "client_credentials", "audience": AUDIENCE}
    before = await auth_server.tenant.row_counts()
    for headers in (
        basic(client.client_id, client.secret + "x"),
        basic(client.client_id, client.secret[:-1]),
        basic(client.client_id, ""),
        basic("unknown-client-id", client.secret),
    ):
        response = await auth_server.http.post("/oauth/token", data=form, headers=headers)
        assert_error(response, 401, "invalid_client", basic=True)
    assert await auth_server.tenant.row_counts() == before
    assert_issued(
        await auth_server.http.post(
            "/oauth/token", data=form, headers=basic(client.client_id, client.secret)
        )
    )


async def test_T04_malformed_basic_values_are_rejected(auth_server: AuthServer) -> None:
    """RFC 6749 §2.3.1, RFC 7617 §2: a malformed Basic value is invalid_client, not a 500."""
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client(
        {AUDIENCE: ["read:timesheets"]}, auth_method="client_secret_basic"
    )
    good = base64.b64encode(f"{client.client_id}:{client.secret}".encode()).decode()
    values = [
        "Basic",
        "Basic =",
        "Basic !!!!",
        "Basic " + good[:-2],  # truncated base64
        "Basic " + good + "====",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b":" + client.secret.encode()).decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + base64.b64encode(f"{client.client_id}:%FF".encode()).decode(),
        "Bearer " + good,
        "Digest username=x",
        good,
    ]
    before = await auth_server.tenant.row_counts()
    for value in values:
        response = await auth_server.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "audience": AUDIENCE},
            headers={"Authorization": value},
        )
        assert_error(response, 401, "invalid_client", basic=True)
    assert await auth_server.tenant.row_counts() == before


async def test_T04_two_methods_credentials_in_the_query_or_the_wrong_method(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §2.3: one method per request; §2.3.1: never in the URI; a body secret only
    from a client registered for it."""
    await auth_server.tenant.create_api()
    post = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]}, name="Post")
    basic_client = await auth_server.tenant.machine_client(
        {AUDIENCE: ["read:timesheets"]}, name="Basic", auth_method="client_secret_basic"
    )
    form = {"grant_type": "client_credentials", "audience": AUDIENCE}
    before = await auth_server.tenant.row_counts()
    # Basic and a body secret together; Basic with a different body client_id.
    both = await auth_server.http.post(
        "/oauth/token",
        data=form | {"client_secret": basic_client.secret},
        headers=basic(basic_client.client_id, basic_client.secret),
    )
    assert_error(both, 400, "invalid_request")
    differing = await auth_server.http.post(
        "/oauth/token",
        data=form | {"client_id": post.client_id},
        headers=basic(basic_client.client_id, basic_client.secret),
    )
    assert_error(differing, 400, "invalid_request")
    # Credentials in the query string, even alongside a valid body.
    for path, data in (
        (f"/oauth/token?{urlencode({'client_secret': post.secret})}", form),
        (
            "/oauth/token?"
            + urlencode({"client_id": post.client_id, "client_secret": post.secret}),
            form,
        ),
        (
            f"/oauth/token?{urlencode({'client_secret': post.secret})}",
            form | {"client_id": post.client_id, "client_secret": post.secret},
        ),
        (f"/oauth/token?{urlencode({'refresh_token': 'x' * 43})}", form),
    ):
        assert_error(await auth_server.http.post(path, data=data), 400, "invalid_request")
    # A body secret only from a client registered for client_secret_post.
    wrong_post = await auth_server.http.post(
        "/oauth/token",
        data=form | {"client_id": basic_client.client_id, "client_secret": basic_client.secret},
    )
    assert_error(wrong_post, 401, "invalid_client", basic=False)
    no_secret = await auth_server.http.post(
        "/oauth/token", data=form | {"client_id": post.client_id}
    )
    assert_error(no_secret, 401, "invalid_client", basic=False)
    assert await auth_server.tenant.row_counts() == before


async def test_T04_basic_serves_every_client_with_a_secret_and_no_public_one(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §2.3.1: the server MUST support Basic for clients issued a password, so
    clients registered for client_secret_post may use it at the token, introspection and
    revocation endpoints; a public client has no secret to send."""
    s = await setup(auth_server)
    token = assert_issued(
        await auth_server.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "audience": AUDIENCE},
            headers=basic(s.machine.client_id, s.machine.secret),
        )
    )["access_token"]
    introspected = await auth_server.http.post(
        "/oauth/introspect",
        data={"token": token},
        headers=basic(s.resource.client_id, s.resource.secret),
    )
    assert introspected.status_code == 200, introspected.text
    assert introspected.json()["active"] is True
    revoked = await auth_server.http.post(
        "/oauth/revoke", data={"token": token}, headers=basic(s.machine.client_id, s.machine.secret)
    )
    assert_error(revoked, 400, "unsupported_token_type")  # authenticated, then answered
    tokens = await user_tokens(auth_server, s.spa)
    before = await auth_server.tenant.row_counts()
    for secret in ("", "anything"):
        for path, data in (
            (
                "/oauth/token",
                {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            ),
            ("/oauth/revoke", {"token": tokens["refresh_token"]}),
        ):
            response = await auth_server.http.post(path, data=data, headers=basic(s.spa, secret))
            assert_error(response, 401, "invalid_client", basic=True)
    assert await auth_server.tenant.row_counts() == before
    assert_issued(await refresh(auth_server, s.spa, tokens["refresh_token"]))


async def test_T04_a_client_id_no_client_can_have_is_invalid_client_not_a_500(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 A.1: client_id is VSCHAR; NUL or non-ASCII names no client (PostgreSQL text
    cannot even hold NUL), so it is invalid_client, never a database error."""
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    form = {"grant_type": "client_credentials", "audience": AUDIENCE}
    before = await auth_server.tenant.row_counts()
    for client_id in ("a\x00b-client", client.client_id + "\x00", "\u00e9-client-id", "\x7f" * 8):
        posted = await auth_server.http.post(
            "/oauth/token", data=form | {"client_id": client_id, "client_secret": client.secret}
        )
        assert_error(posted, 401, "invalid_client")
        encoded = base64.b64encode(f"{client_id}:{client.secret}".encode()).decode()
        via_basic = await auth_server.http.post(
            "/oauth/token", data=form, headers={"Authorization": f"Basic {encoded}"}
        )
        assert_error(via_basic, 401, "invalid_client", basic=True)
    assert await auth_server.tenant.row_counts() == before


async def test_T05_client_secrets_are_stored_only_as_sha256_digests(
    auth_server: AuthServer,
) -> None:
    """node `constant_equals`: the stored form is a digest; the secret itself is nowhere."""
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})

    async def digests(session):  # type: ignore[no-untyped-def]
        return (
            await session.scalars(
                select(ClientSecret.digest).where(ClientSecret.client_id == client.client_id)
            )
        ).all()

    assert await auth_server.tenant.run(digests) == [
        hashlib.sha256(client.secret.encode()).digest()
    ]
    assert not [v for v in await stored_values(auth_server) if client.secret in v]
    assert entropy_bits(client.secret) >= 128


async def test_T05_secret_comparison_uses_hmac_compare_digest_on_every_active_digest(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every active digest goes through hmac.compare_digest, with no early exit."""
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})

    async def rotate(session):  # type: ignore[no-untyped-def]
        return await admin.rotate_secret(session, client.client_id, timedelta(hours=1))

    new_secret: str = await auth_server.tenant.run(rotate)
    calls: list[tuple[bytes, bytes]] = []

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(client_auth, "hmac", SimpleNamespace(compare_digest=spy))
    stored = {hashlib.sha256(s.encode()).digest() for s in (client.secret, new_secret)}
    form = {"grant_type": "client_credentials", "audience": AUDIENCE}
    for secret, status in ((client.secret, 200), (new_secret, 200), ("wrong" * 9, 401)):
        calls.clear()
        response = await auth_server.http.post(
            "/oauth/token",
            data=form | {"client_id": client.client_id, "client_secret": secret},
        )
        assert response.status_code == status, response.text
        presented = hashlib.sha256(secret.encode()).digest()
        assert len(calls) == 2, calls  # both active digests, even after a match
        assert {a for a, _b in calls} == {presented}
        assert {b for _a, b in calls} == stored


async def test_T06_failures_per_client_lock_it_even_for_the_right_secret(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 6749 §2.3.1, §10.10: 429 with Retry-After once the limit is reached, NP."""
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client(
        {AUDIENCE: ["read:timesheets"]}, auth_method="client_secret_basic"
    )
    form = {"grant_type": "client_credentials", "audience": AUDIENCE}
    limit = auth_server.settings.auth_failure_limit
    window = auth_server.settings.auth_failure_window_seconds
    for _ in range(limit):
        wrong = await auth_server.http.post(
            "/oauth/token", data=form, headers=basic(client.client_id, "wrong")
        )
        assert_error(wrong, 401, "invalid_client", basic=True)
    before = await auth_server.tenant.row_counts()
    for _ in range(2):
        locked = await auth_server.http.post(
            "/oauth/token", data=form, headers=basic(client.client_id, client.secret)
        )
        assert_error(locked, 429, "invalid_request", basic=None)
        assert 1 <= int(locked.headers["retry-after"]) <= window
    assert await auth_server.tenant.row_counts() == before
    move_clock(monkeypatch, auth_server, window + 1)
    assert_issued(
        await auth_server.http.post(
            "/oauth/token", data=form, headers=basic(client.client_id, client.secret)
        )
    )


async def test_T06_failures_from_one_address_lock_every_client(
    auth_server: AuthServer,
) -> None:
    """Guessing across many client_ids from one address is throttled too."""
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    form = {"grant_type": "client_credentials", "audience": AUDIENCE}
    for i in range(auth_server.settings.auth_failure_limit):
        wrong = await auth_server.http.post(
            "/oauth/token",
            data=form | {"client_id": f"guess-{i:04d}", "client_secret": "x" * 43},
        )
        assert_error(wrong, 401, "invalid_client")
    before = await auth_server.tenant.row_counts()
    locked = await auth_server.http.post(
        "/oauth/token",
        data=form | {"client_id": client.client_id, "client_secret": client.secret},
    )
    assert_error(locked, 429, "invalid_request")
    assert int(locked.headers["retry-after"]) >= 1
    assert await auth_server.tenant.row_counts() == before


async def test_T07_every_token_and_introspection_answer_is_no_store(
    auth_server: AuthServer,
) -> None:
    """oidf CheckTokenEndpointCacheHeaders: Cache-Control no-store and Pragma no-cache."""
    s = await setup(auth_server)
    machine = {"client_id": s.machine.client_id, "client_secret": s.machine.secret}
    cc = await auth_server.http.post(
        "/oauth/token", data={"grant_type": "client_credentials", "audience": AUDIENCE} | machine
    )
    tokens = await user_tokens(auth_server, s.spa)  # asserts the code exchange's headers
    rotated = await refresh(auth_server, s.spa, tokens["refresh_token"])
    responses = [
        cc,
        rotated,
        await auth_server.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "audience": "https://nope.test"} | machine,
        ),
        await auth_server.http.post("/oauth/token", data={"grant_type": "client_credentials"}),
        await auth_server.http.post(
            "/oauth/introspect",
            data={"token": cc.json()["access_token"]}
            | {"client_id": s.resource.client_id, "client_secret": s.resource.secret},
        ),
        await auth_server.http.post(
            "/oauth/introspect",
            data={"token": "garbage"}
            | {"client_id": s.resource.client_id, "client_secret": s.resource.secret},
        ),
        await auth_server.http.post("/oauth/introspect", data={"token": "garbage"}),
        await auth_server.http.post("/oauth/revoke", data={"token": "garbage", "client_id": s.spa}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 400, 401, 200, 200, 401, 200]
    for response in responses:
        assert_no_store(response)
    assert responses[4].json()["active"] is True


async def test_T07_error_description_never_carries_crlf_tab_quote_or_backslash(
    auth_server: AuthServer,
) -> None:
    """oidf CheckErrorDescriptionFromTokenEndpointResponseErrorContainsCRLFTAB, RFC 6749 §5.2."""
    s = await setup(auth_server)
    nasty = 'x\r\n\t"\\\x00\x7f\u00e9'
    machine = {"client_id": s.machine.client_id, "client_secret": s.machine.secret}
    bodies = [
        urlencode({"grant_type": nasty}),
        urlencode([(f"a{nasty}", "1"), (f"a{nasty}", "2"), ("grant_type", "client_credentials")]),
        urlencode(
            {"grant_type": "client_credentials", "audience": AUDIENCE, "scope": nasty} | machine
        ),
        urlencode({"grant_type": "client_credentials", "resource": nasty} | machine),
        urlencode({"grant_type": "client_credentials", "audience": nasty} | machine),
        urlencode({"grant_type": "client_credentials", "client_id": nasty, "client_secret": "x"}),
        urlencode({"grant_type": "refresh_token", "client_id": s.spa, "refresh_token": nasty}),
    ]
    seen = set()
    for body in bodies:
        response = await auth_server.http.post("/oauth/token", content=body, headers=FORM)
        assert response.status_code in (400, 401), response.text
        error = assert_error(response, response.status_code, response.json()["error"])
        assert error["error_description"], error
        seen.add(error["error"])
    assert seen == {
        "unsupported_grant_type",
        "invalid_request",
        "invalid_scope",
        "invalid_target",
        "invalid_client",
        "invalid_grant",
    }


async def test_T08_scope_outside_the_allow_list_or_the_grammar_is_invalid_scope(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §3.3; an unknown or ungranted scope is an error, never silently dropped."""
    s = await setup(auth_server)
    base = {
        "grant_type": "client_credentials",
        "audience": AUDIENCE,
        "client_id": s.machine.client_id,
        "client_secret": s.machine.secret,
    }
    before = await auth_server.tenant.row_counts()
    for scope in (
        "delete:timesheets",  # defined by the API, not granted to the client
        "read:timesheets approve:timesheets",
        "read:other",  # granted, but on another API
        "foo",
        "CREATE:timesheets",
        "create:timesheets:x",
        "read:timesheets,create:timesheets",
        "read:timesheets  create:timesheets",
        " read:timesheets",
        "read:timesheets\tcreate:timesheets",
        'read:timesheets "x"',
        "read:timesheets \\",
        "r\u00e9ad:timesheets",
    ):
        response = await auth_server.http.post("/oauth/token", data=base | {"scope": scope})
        assert_error(response, 400, "invalid_scope")
    assert await auth_server.tenant.row_counts() == before


async def test_T08_unregistered_or_unpermitted_audience_is_invalid_target(
    auth_server: AuthServer,
) -> None:
    """RFC 8707 §2: invalid_target for a resource that is unknown or not the client's."""
    s = await setup(auth_server)
    web_only = await auth_server.tenant.create_api("https://web-only.api.test")
    assert web_only.api.identifier == "https://web-only.api.test"
    creds = {"client_id": s.machine.client_id, "client_secret": s.machine.secret}
    form = {"grant_type": "client_credentials"} | creds
    before = await auth_server.tenant.row_counts()
    for extra in (
        {},
        {"audience": "https://nope.test"},
        {"audience": AUDIENCE + "/"},
        {"audience": AUDIENCE.upper()},
        {"audience": "https://web-only.api.test"},  # registered, no grant for this client
        {"resource": "https://web-only.api.test"},
        {"resource": AUDIENCE + "#frag"},
        {"resource": "/relative"},
        {"resource": "api.timesheets.test"},
    ):
        response = await auth_server.http.post("/oauth/token", data=form | extra)
        assert_error(response, 400, "invalid_target")
    assert await auth_server.tenant.row_counts() == before


async def test_T08_issued_token_has_the_api_audience_granted_scopes_and_client_subject(
    auth_server: AuthServer,
) -> None:
    """RFC 9068 §2.2: aud=API, scope within the allow-list, sub/client_id name the client."""
    s = await setup(auth_server)
    allow = {"read:timesheets", "create:timesheets"}
    creds = {"client_id": s.machine.client_id, "client_secret": s.machine.secret}
    for extra, expected in (
        ({}, allow),
        ({"scope": "read:timesheets"}, {"read:timesheets"}),
        ({"scope": "create:timesheets read:timesheets"}, allow),
    ):
        body = assert_issued(
            await auth_server.http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "resource": AUDIENCE} | creds | extra,
            )
        )
        assert set(body["scope"].split(" ")) == expected
        assert "refresh_token" not in body
        assert "id_token" not in body
        claims = await verify_jwt(auth_server, body["access_token"], AUDIENCE)
        assert claims["aud"] == AUDIENCE
        assert set(claims["scope"].split(" ")) == expected <= allow
        assert claims["sub"] == f"{s.machine.client_id}@clients"
        assert claims["client_id"] == s.machine.client_id
        assert claims["iss"] == auth_server.url
        assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"


# --- D. Authorization code + PKCE ------------------------------------------------------------


async def test_P01_public_client_without_code_challenge_is_redirected_with_invalid_request(
    auth_server: AuthServer,
) -> None:
    """RFC 7636 §4.4.1, RFC 9700 §2.1.1: error and state back to the client, no code, NP."""
    s = await setup(auth_server)
    await sign_in(auth_server, s.spa)  # even a signed-in user gets no code
    before = await auth_server.tenant.row_counts()
    for extra in (
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge": None, "code_challenge_method": "S256"},
        {"code_challenge": "", "code_challenge_method": "S256"},
    ):
        answer = await authorize(auth_server, query(s.spa, "unused", **extra))
        params = redirect_params(answer)
        assert params["error"] == "invalid_request"
        assert params["state"] == STATE
        assert params["iss"] == auth_server.url
        assert "code" not in params
        assert SAFE_DESCRIPTION.fullmatch(params["error_description"])
        assert answer.headers["cache-control"] == "no-store"
    assert await auth_server.tenant.row_counts() == before


async def test_P02_plain_unknown_method_or_malformed_challenge_is_invalid_request(
    auth_server: AuthServer,
) -> None:
    """RFC 7636 §4.2 (43-128 unreserved characters), RFC 9700 §2.1.1 (no plain), NP."""
    s = await setup(auth_server)
    await sign_in(auth_server, s.spa)
    _verifier, good = pkce_pair()
    before = await auth_server.tenant.row_counts()
    for challenge, method in (
        (good, "plain"),
        (good, "s256"),
        (good, "S512"),
        (good, "S256 "),
        ("a" * 42, "S256"),
        ("a" * 129, "S256"),
        (good[:42] + "+", "S256"),
        (good[:42] + "/", "S256"),
        (good + "=", "S256"),
        (good[:42] + " ", "S256"),
        (good[:42] + "\u00e9", "S256"),
        ("a" * 43, None),  # no method means plain (RFC 7636 §4.3)
    ):
        answer = await authorize(auth_server, query(s.spa, challenge, code_challenge_method=method))
        params = redirect_params(answer)
        assert params["error"] == "invalid_request", (challenge, method, params)
        assert params["state"] == STATE
        assert "code" not in params
    assert await auth_server.tenant.row_counts() == before
    # The boundaries themselves are accepted.
    for challenge in ("a" * 43, "A-._~" * 25 + "xyz"):
        assert len(challenge) in (43, 128)
        params = redirect_params(await authorize(auth_server, query(s.spa, challenge)))
        assert "code" in params


async def test_P02_malformed_verifier_is_refused_even_when_its_s256_matches(
    auth_server: AuthServer,
) -> None:
    """RFC 7636 §4.1: a verifier outside 43-128 unreserved characters never verifies."""
    s = await setup(auth_server)
    for verifier in ("a" * 42, "a" * 129, "a" * 42 + "+", "a" * 42 + "=", "a" * 42 + "\u00e9"):
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        code, _v = await new_code(
            auth_server, s.spa, code_challenge=challenge, code_challenge_method="S256"
        )
        response = await exchange(auth_server, s.spa, code, verifier)
        assert_error(response, 400, "invalid_grant")


async def test_P03_missing_wrong_or_plain_verifier_is_invalid_grant_and_burns_the_code(
    auth_server: AuthServer,
) -> None:
    """RFC 7636 §4.6, RFC 9700 §4.8.2: invalid_grant, no tokens; the code is then dead."""
    s = await setup(auth_server)
    for bad in ("missing", "wrong", "plain"):
        verifier, challenge = pkce_pair()
        code, _v = await new_code(
            auth_server, s.spa, code_challenge=challenge, code_challenge_method="S256"
        )
        sent = {"missing": None, "wrong": pkce_pair()[0], "plain": challenge}[bad]
        before = await auth_server.tenant.row_counts()
        response = await exchange(auth_server, s.spa, code, sent)
        assert_error(response, 400, "invalid_grant")
        assert await auth_server.tenant.row_counts() == before
        burned = await exchange(auth_server, s.spa, code, verifier)
        assert_error(burned, 400, "invalid_grant")
        assert await auth_server.tenant.row_counts() == before


async def test_P03_verifier_for_a_code_issued_without_a_challenge_is_a_downgrade(
    auth_server: AuthServer,
) -> None:
    """oauch IsPkceTokenDowngradeDetectedTest: a verifier the code never had -> invalid_grant."""
    s = await setup(auth_server)
    secret = {"client_secret": s.web.secret}
    code, _v = await new_code(auth_server, s.web.client_id, pkce=False)
    before = await auth_server.tenant.row_counts()
    response = await exchange(auth_server, s.web.client_id, code, pkce_pair()[0], **secret)
    assert_error(response, 400, "invalid_grant")
    assert await auth_server.tenant.row_counts() == before
    # Control: without a verifier, a fresh code of this confidential client is redeemed.
    code, _v = await new_code(auth_server, s.web.client_id, pkce=False)
    assert_issued(await exchange(auth_server, s.web.client_id, code, None, **secret))


async def test_P04_code_replay_is_invalid_grant_and_revokes_the_first_tokens(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §4.1.2: deny the replay and revoke what the code issued."""
    s = await setup(auth_server)
    code, verifier = await new_code(auth_server, s.spa)
    tokens = assert_issued(await exchange(auth_server, s.spa, code, verifier))
    assert (await introspect(auth_server, s.resource, tokens["access_token"]))["active"] is True
    assert (await introspect(auth_server, s.resource, tokens["refresh_token"]))["active"] is True
    before = await auth_server.tenant.row_counts()
    replay = await exchange(auth_server, s.spa, code, verifier)
    assert_error(replay, 400, "invalid_grant")
    assert await auth_server.tenant.row_counts() == before
    await assert_grant_dead(auth_server, s, tokens["access_token"], tokens["refresh_token"])
    assert_error(await refresh(auth_server, s.spa, tokens["refresh_token"]), 400, "invalid_grant")


async def test_P04_twenty_parallel_redemptions_exactly_one_succeeds(
    auth_server: AuthServer,
) -> None:
    """oauch SingleFastACExchangeTest: one 200, the rest invalid_grant, never a 500."""
    s = await setup(auth_server)
    code, verifier = await new_code(auth_server, s.spa)
    before = await auth_server.tenant.row_counts()
    responses = await asyncio.gather(
        *(exchange(auth_server, s.spa, code, verifier) for _ in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 19, [(r.status_code, r.text) for r in responses]
    for response in responses:
        if response.status_code == 400:
            assert_error(response, 400, "invalid_grant")
    winner = assert_issued(next(r for r in responses if r.status_code == 200))
    after = await auth_server.tenant.row_counts()
    assert after["refresh_tokens"] <= before["refresh_tokens"] + 1
    # The replays revoked the grant: what the one success received is dead too.
    await assert_grant_dead(auth_server, s, winner["access_token"], winner["refresh_token"])


async def test_P05_code_of_another_client_or_another_redirect_uri_is_invalid_grant(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §4.1.3: the code is bound to its client and its redirect_uri."""
    s = await setup(auth_server)
    attempts: list[tuple[Callable[[str, str], Any], str]] = [
        (lambda c, v: exchange(auth_server, s.other_spa, c, v), "invalid_grant"),
        (
            lambda c, v: exchange(auth_server, s.web.client_id, c, v, client_secret=s.web.secret),
            "invalid_grant",
        ),
        (lambda c, v: exchange(auth_server, s.spa, c, v, redirect_uri=REDIRECT2), "invalid_grant"),
        (
            lambda c, v: exchange(auth_server, s.spa, c, v, redirect_uri=REDIRECT + "/"),
            "invalid_grant",
        ),
        (
            lambda c, v: exchange(auth_server, s.spa, c, v, redirect_uri=REDIRECT + "?x=1"),
            "invalid_grant",
        ),
        (lambda c, v: exchange(auth_server, s.spa, c, v, redirect_uri=None), "invalid_request"),
    ]
    for attempt, error in attempts:
        code, verifier = await new_code(auth_server, s.spa)
        before = await auth_server.tenant.row_counts()
        assert_error(await attempt(code, verifier), 400, error)
        assert await auth_server.tenant.row_counts() == before
    # Control: a code issued for REDIRECT2 is redeemed with REDIRECT2.
    code, verifier = await new_code(auth_server, s.spa, redirect_uri=REDIRECT2)
    assert_issued(await exchange(auth_server, s.spa, code, verifier, redirect_uri=REDIRECT2))


async def test_P05_code_past_its_ttl_is_invalid_grant(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 6749 §4.1.2: codes are short-lived (`code_seconds`); at its expiry it is dead."""
    s = await setup(auth_server)
    ttl = auth_server.settings.code_seconds
    fresh, fresh_verifier = await new_code(auth_server, s.spa)
    old, old_verifier = await new_code(auth_server, s.spa)
    move_clock(monkeypatch, auth_server, ttl - 2)
    assert_issued(await exchange(auth_server, s.spa, fresh, fresh_verifier))
    move_clock(monkeypatch, auth_server, ttl)
    before = await auth_server.tenant.row_counts()
    assert_error(await exchange(auth_server, s.spa, old, old_verifier), 400, "invalid_grant")
    assert await auth_server.tenant.row_counts() == before


async def test_P05_codes_refresh_tokens_and_secrets_carry_128_bits_and_are_stored_hashed(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §10.10: ≥128 bits; stored only as digests, so a database read leaks none."""
    s = await setup(auth_server)
    codes = [(await new_code(auth_server, s.spa))[0] for _ in range(4)]
    tokens = [await user_tokens(auth_server, s.spa) for _ in range(2)]
    refresh_tokens = [t["refresh_token"] for t in tokens]
    values = [*codes, *refresh_tokens, s.web.secret, s.machine.secret]
    assert len(set(values)) == len(values)
    for value in values:
        assert entropy_bits(value) >= 128, value
    stored = await stored_values(auth_server)
    for value in values:
        assert not [v for v in stored if value in v], value
        assert hashlib.sha256(value.encode()).digest().hex() in stored, value


# --- F. Refresh, revocation, introspection, ID token -----------------------------------------


async def test_F01_replaying_a_rotated_refresh_token_revokes_the_whole_grant(
    auth_server: AuthServer,
) -> None:
    """RFC 9700 §4.14.2: reuse of RT1 kills RT2 and every access token of the grant."""
    s = await setup(auth_server)
    first = await user_tokens(auth_server, s.spa)
    second = assert_issued(await refresh(auth_server, s.spa, first["refresh_token"]))
    assert second["refresh_token"] != first["refresh_token"]
    assert (await introspect(auth_server, s.resource, second["refresh_token"]))["active"] is True
    before = await auth_server.tenant.row_counts()
    replay = await refresh(auth_server, s.spa, first["refresh_token"])
    assert_error(replay, 400, "invalid_grant")
    assert await auth_server.tenant.row_counts() == before
    await assert_grant_dead(auth_server, s, second["access_token"], second["refresh_token"])
    await assert_grant_dead(auth_server, s, first["access_token"], first["refresh_token"])
    assert_error(await refresh(auth_server, s.spa, second["refresh_token"]), 400, "invalid_grant")


async def test_F01_concurrent_use_of_one_refresh_token_one_succeeds_then_the_grant_dies(
    auth_server: AuthServer,
) -> None:
    """node 'revokes the complete grant': one 200, the rest invalid_grant, never a 500."""
    s = await setup(auth_server)
    tokens = await user_tokens(auth_server, s.spa)
    responses = await asyncio.gather(
        *(refresh(auth_server, s.spa, tokens["refresh_token"]) for _ in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 19, [(r.status_code, r.text) for r in responses]
    for response in responses:
        if response.status_code == 400:
            assert_error(response, 400, "invalid_grant")
    winner = assert_issued(next(r for r in responses if r.status_code == 200))
    await assert_grant_dead(auth_server, s, winner["access_token"], winner["refresh_token"])
    await assert_grant_dead(auth_server, s, tokens["access_token"], tokens["refresh_token"])


async def test_F02_refresh_token_of_another_client_is_invalid_grant_and_not_burned(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §6: the refresh token is bound to its client."""
    s = await setup(auth_server)
    tokens = await user_tokens(auth_server, s.spa)
    before = await auth_server.tenant.row_counts()
    for response in (
        await refresh(auth_server, s.other_spa, tokens["refresh_token"]),
        await refresh(
            auth_server, s.web.client_id, tokens["refresh_token"], client_secret=s.web.secret
        ),
    ):
        assert_error(response, 400, "invalid_grant")
    assert await auth_server.tenant.row_counts() == before
    assert await revoked_grants(auth_server) == 0
    assert_issued(await refresh(auth_server, s.spa, tokens["refresh_token"]))


async def test_F02_scope_increase_on_refresh_is_invalid_scope(auth_server: AuthServer) -> None:
    """RFC 6749 §6: no scope beyond the original grant; a refused request uses nothing up."""
    s = await setup(auth_server)
    tokens = await user_tokens(auth_server, s.spa)
    before = await auth_server.tenant.row_counts()
    for scope in (
        USER_SCOPE + " approve:timesheets",  # granted to the client and the role, not asked
        USER_SCOPE + " email",
        "read:timesheets delete:timesheets",
        "unknown:scope",
    ):
        response = await refresh(auth_server, s.spa, tokens["refresh_token"], scope=scope)
        assert_error(response, 400, "invalid_scope")
    assert await auth_server.tenant.row_counts() == before
    assert await revoked_grants(auth_server) == 0
    # A narrower scope is allowed, and the refused requests did not use the token up.
    narrowed = assert_issued(
        await refresh(auth_server, s.spa, tokens["refresh_token"], scope="openid offline_access")
    )
    assert narrowed["scope"] == "openid offline_access"


async def test_F03_revoking_a_refresh_or_access_token_kills_the_grant(
    auth_server: AuthServer,
) -> None:
    """RFC 7009 §2.1-2.2: 200 with no body, and the tokens of the grant stop working."""
    s = await setup(auth_server)
    for kind in ("refresh_token", "access_token"):
        tokens = await user_tokens(auth_server, s.spa)
        response = await auth_server.http.post(
            "/oauth/revoke",
            data={"token": tokens[kind], "token_type_hint": "access_token", "client_id": s.spa},
        )
        assert response.status_code == 200, response.text
        assert response.content == b""
        assert_no_store(response)
        await assert_grant_dead(auth_server, s, tokens["access_token"], tokens["refresh_token"])
        refused = await refresh(auth_server, s.spa, tokens["refresh_token"])
        assert_error(refused, 400, "invalid_grant")
    assert await revoked_grants(auth_server) == 2


async def test_F03_garbage_or_another_clients_token_is_200_and_revokes_nothing(
    auth_server: AuthServer,
) -> None:
    """RFC 7009 §2.2: 200 for an invalid token; §2.1: only the client's own tokens."""
    s = await setup(auth_server)
    tokens = await user_tokens(auth_server, s.spa)
    before = await auth_server.tenant.row_counts()
    for form in (
        {"token": "garbage", "client_id": s.spa},
        {"token": "x" * 43, "token_type_hint": "refresh_token", "client_id": s.spa},
        {"token": tokens["refresh_token"], "client_id": s.other_spa},
        {"token": tokens["access_token"], "client_id": s.other_spa},
        {"token": tokens["refresh_token"]}
        | {"client_id": s.web.client_id, "client_secret": s.web.secret},
    ):
        response = await auth_server.http.post("/oauth/revoke", data=form)
        assert response.status_code == 200, response.text
        assert_no_store(response)
    assert await auth_server.tenant.row_counts() == before
    assert await revoked_grants(auth_server) == 0
    assert (await introspect(auth_server, s.resource, tokens["access_token"]))["active"] is True
    assert_issued(await refresh(auth_server, s.spa, tokens["refresh_token"]))


async def test_F03_unauthenticated_revocation_is_401_and_revokes_nothing(
    auth_server: AuthServer,
) -> None:
    """RFC 7009 §2.1: the client authenticates (public clients by client_id)."""
    s = await setup(auth_server)
    tokens = await user_tokens(auth_server, s.spa)
    token = tokens["refresh_token"]
    before = await auth_server.tenant.row_counts()
    for data, headers in (
        ({"token": token}, {}),
        ({"token": token, "client_id": s.web.client_id}, {}),
        ({"token": token, "client_id": s.web.client_id, "client_secret": "wrong"}, {}),
        ({"token": token, "client_id": "unknown-client"}, {}),
        ({"token": token}, basic(s.web.client_id, "wrong")),
    ):
        response = await auth_server.http.post("/oauth/revoke", data=data, headers=headers)
        assert_error(response, 401, "invalid_client", basic=True if headers else None)
    missing = await auth_server.http.post("/oauth/revoke", data={"client_id": s.spa})
    assert_error(missing, 400, "invalid_request")
    assert await auth_server.tenant.row_counts() == before
    assert await revoked_grants(auth_server) == 0
    assert_issued(await refresh(auth_server, s.spa, token))


async def test_F04_unauthenticated_introspection_is_401(auth_server: AuthServer) -> None:
    """RFC 7662 §2.1: the caller authenticates; a public client cannot introspect."""
    s = await setup(auth_server)
    tokens = await user_tokens(auth_server, s.spa)
    token = tokens["access_token"]
    for data, headers in (
        ({"token": token}, {}),
        ({"token": token, "client_id": s.spa}, {}),
        ({"token": token, "client_id": s.resource.client_id}, {}),
        ({"token": token, "client_id": s.resource.client_id, "client_secret": "wrong"}, {}),
        ({"token": token}, basic(s.resource.client_id, "wrong")),
        ({"token": token}, {"Authorization": f"Bearer {token}"}),
    ):
        response = await auth_server.http.post("/oauth/introspect", data=data, headers=headers)
        assert_error(response, 401, "invalid_client", basic=True if headers else None)
        assert "active" not in response.json()


async def test_F04_expired_revoked_consumed_or_foreign_tokens_are_exactly_inactive(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 7662 §2.2: `{"active": false}` and nothing else for any token not active."""
    s = await setup(auth_server)
    machine = {"client_id": s.machine.client_id, "client_secret": s.machine.secret}
    cc = assert_issued(
        await auth_server.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "audience": AUDIENCE} | machine,
        )
    )["access_token"]
    first = await user_tokens(auth_server, s.spa)
    second = assert_issued(await refresh(auth_server, s.spa, first["refresh_token"]))
    revoked = await user_tokens(auth_server, s.spa)
    response = await auth_server.http.post(
        "/oauth/revoke", data={"token": revoked["refresh_token"], "client_id": s.spa}
    )
    assert response.status_code == 200

    # Controls: live tokens are active, with their claims.
    live = await introspect(auth_server, s.resource, cc)
    assert live["active"] is True
    assert live["client_id"] == s.machine.client_id
    assert live["iss"] == auth_server.url
    live_refresh = await introspect(auth_server, s.resource, second["refresh_token"])
    assert live_refresh["active"] is True
    assert live_refresh["client_id"] == s.spa

    # Foreign: our claims under another key (same kid), our key with another issuer,
    # alg none, an ID token, and garbage.
    header = jwt.get_unverified_header(cc)
    claims = jwt.decode(cc, options={"verify_signature": False})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = (await auth_server.tenant.runtime.keyring()).signer("RS256")
    assert signer is not None
    foreign = [
        jwt.encode(claims, other_key, "RS256", headers={"kid": header["kid"], "typ": "at+jwt"}),
        jwt.encode(
            claims | {"iss": "https://evil.example"},
            signer.key,
            "RS256",
            headers={"kid": signer.kid, "typ": "at+jwt"},
        ),
        jwt.encode(
            claims | {"iss": auth_server.url + "/"},
            signer.key,
            "RS256",
            headers={"kid": signer.kid, "typ": "at+jwt"},
        ),
        jwt.encode(claims, "", "none", headers={"typ": "at+jwt"}),
        first["id_token"],
        "garbage",
        "a.b.c",
        "x" * 43,
    ]
    inactive = [
        first["refresh_token"],  # consumed by the rotation
        revoked["access_token"],
        revoked["refresh_token"],
        *foreign,
    ]
    for token in inactive:
        assert await introspect(auth_server, s.resource, token) == {"active": False}, token

    # Expired: the user access token (user_token_seconds), then the client credentials one.
    move_clock(monkeypatch, auth_server, auth_server.settings.user_token_seconds)
    assert await introspect(auth_server, s.resource, second["access_token"]) == {"active": False}
    assert (await introspect(auth_server, s.resource, cc))["active"] is True
    move_clock(monkeypatch, auth_server, 3600)
    assert await introspect(auth_server, s.resource, cc) == {"active": False}
    move_clock(monkeypatch, auth_server, auth_server.settings.refresh_idle_seconds)
    assert await introspect(auth_server, s.resource, second["refresh_token"]) == {"active": False}


async def test_F04_introspection_failures_are_throttled_with_retry_after(
    auth_server: AuthServer,
) -> None:
    """RFC 7662 §4, RFC 6749 §10.10: guessing the caller's secret is throttled."""
    s = await setup(auth_server)
    token = (await user_tokens(auth_server, s.spa))["access_token"]
    for _ in range(auth_server.settings.auth_failure_limit):
        wrong = await auth_server.http.post(
            "/oauth/introspect",
            data={"token": token, "client_id": s.resource.client_id, "client_secret": "no"},
        )
        assert_error(wrong, 401, "invalid_client", basic=None)
    before = await auth_server.tenant.row_counts()
    locked = await auth_server.http.post(
        "/oauth/introspect",
        data={"token": token}
        | {"client_id": s.resource.client_id, "client_secret": s.resource.secret},
    )
    assert_error(locked, 429, "invalid_request", basic=None)
    assert (
        1 <= int(locked.headers["retry-after"]) <= auth_server.settings.auth_failure_window_seconds
    )
    assert "active" not in locked.json()
    revoke = await auth_server.http.post(
        "/oauth/revoke",
        data={"token": token}
        | {"client_id": s.resource.client_id, "client_secret": s.resource.secret},
    )
    assert_error(revoke, 429, "invalid_request", basic=None)
    assert int(revoke.headers["retry-after"]) >= 1
    assert await auth_server.tenant.row_counts() == before


async def test_F05_id_token_claims_and_signature(auth_server: AuthServer) -> None:
    """OIDC Core §3.1.3.7: iss exact, aud and azp the client, nonce, iat/exp in seconds, RS256."""
    s = await setup(auth_server)
    nonce = "n-\u00e9 +/=%20" + secrets.token_urlsafe(8)
    started = int(time.time())
    tokens = await user_tokens(auth_server, s.spa, nonce=nonce)
    finished = int(time.time())
    id_token = tokens["id_token"]
    header = jwt.get_unverified_header(id_token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    jwks = (await auth_server.http.get("/.well-known/jwks.json")).json()
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    claims = await verify_jwt(auth_server, id_token, s.spa)
    assert claims["iss"] == auth_server.url
    assert not claims["iss"].endswith("/")
    assert claims["aud"] == s.spa or s.spa in claims["aud"]
    assert claims["azp"] == s.spa
    assert claims["nonce"] == nonce
    assert isinstance(claims["iat"], int)
    assert isinstance(claims["exp"], int)
    assert started - 1 <= claims["iat"] <= finished + 1  # not in the future, not in ms
    assert claims["exp"] - claims["iat"] == auth_server.settings.id_token_seconds
    assert claims["exp"] < 10**10  # seconds, not milliseconds
    assert claims["auth_time"] <= claims["iat"]
    assert (
        claims["sub"]
        == jwt.decode(tokens["access_token"], options={"verify_signature": False})["sub"]
    )
    # The ID token is never accepted as an access token (RFC 9068 §2.1 typ).
    await assert_userinfo_refused(auth_server, id_token)
    discovery = (await auth_server.http.get("/.well-known/openid-configuration")).json()
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    assert discovery["issuer"] == auth_server.url


async def test_F05_nonce_is_optional_for_the_code_flow_and_kept_out_of_refreshes(
    auth_server: AuthServer,
) -> None:
    """oidf ensure-request-without-nonce-succeeds-for-code-flow; OIDC Core §12.2."""
    s = await setup(auth_server)
    tokens = await user_tokens(auth_server, s.spa, nonce=None)
    claims = await verify_jwt(auth_server, tokens["id_token"], s.spa)
    assert "nonce" not in claims
    with_nonce = await user_tokens(auth_server, s.spa, nonce="n-1")
    refreshed = assert_issued(await refresh(auth_server, s.spa, with_nonce["refresh_token"]))
    again = await verify_jwt(auth_server, refreshed["id_token"], s.spa)
    original = await verify_jwt(auth_server, with_nonce["id_token"], s.spa)
    # §12.2: same iss, sub, aud, azp; a nonce, if present, is the original one.
    for name in ("iss", "sub", "aud", "azp"):
        assert again[name] == original[name]
    assert again.get("nonce", "n-1") == "n-1"
