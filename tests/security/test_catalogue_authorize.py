"""Security catalogue E (R01-R07): the authorization endpoint and the browser-facing pages,
against the running authorization server over HTTP, on SQLite and on PostgreSQL.

`/work/shared/SECURITY-TESTS.md` section E. Refusals are checked with a browser that is
already signed in to a first-party client, so that a request the server wrongly accepted
would issue a code at once: "nothing persisted" (NP, every table's row count unchanged)
could then fail. Where it matters, a control shows that the corrected request works.

Deviation from the catalogue's wording: redirects are `303 See Other`, not 302. RFC 6749
§3.1 allows any redirect status, and RFC 9700 §4.12 asks for 303 after the credentials
POST; the server uses 303 for every authorization response, and the tests pin that.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.authserver import conftest as authserver_fixtures
from tests.authserver.conftest import AUDIENCE, AuthServer
from tests.authserver.flows import AUTHORIZE, CSRF, authorize_and_login, pkce_pair
from tests.live import serve_in_thread
from timesheets.authserver import admin, people
from timesheets.authserver.app import create_app
from timesheets.settings import AuthServerSettings

REDIRECT = "https://spa.example.com/callback"
REDIRECT_2 = "https://spa.example.com/other-callback"
ORIGIN = "https://spa.example.com"
PARTNER_REDIRECT = "https://partner.example.net/cb"
PARTNER_ORIGIN = "https://partner.example.net"
EMAIL = "erin@abc.example"
OTHER_EMAIL = "finn@abc.example"
PASSWORD = "correct horse battery"
#: Every VSCHAR (RFC 6749 Appendix A.5) that needs escaping, plus a non-ASCII letter.
STATE = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ st-\u00e9"
REFERRER_POLICIES = ("no-referrer", "same-origin")  # neither sends the URL cross-origin

auth_server = authserver_fixtures.auth_server  # the running server, SQLite and PostgreSQL


@dataclass(frozen=True)
class Clients:
    """The client_ids of the tenant the tests use."""

    spa: str  # first party, one redirect URI, a registered web origin
    two: str  # first party, two redirect URIs
    partner: str  # third party: the user is asked for consent


async def _setup(server: AuthServer, *, second_user: bool = False) -> Clients:
    await server.tenant.create_api()

    async def work(session: AsyncSession) -> Clients:
        spa = await admin.create_client(
            session, name="SPA", app_type="spa", redirect_uris=(REDIRECT,), web_origins=(ORIGIN,)
        )
        two = await admin.create_client(
            session, name="Two", app_type="spa", redirect_uris=(REDIRECT, REDIRECT_2)
        )
        partner = await admin.create_client(
            session,
            name="Partner",
            app_type="spa",
            redirect_uris=(PARTNER_REDIRECT,),
            web_origins=(PARTNER_ORIGIN,),
            first_party=False,
        )
        for created in (spa, two, partner):
            await admin.add_grant(session, created.client.client_id, AUDIENCE, ["read:timesheets"])
        await people.create_role(session, "Employee", permissions={AUDIENCE: ["read:timesheets"]})
        emails = (EMAIL, OTHER_EMAIL) if second_user else (EMAIL,)
        for email in emails:
            await people.create_user(session, email=email, name="Someone", password=PASSWORD)
            await people.assign_role(session, email, "Employee")
        return Clients(spa.client.client_id, two.client.client_id, partner.client.client_id)

    clients: Clients = await server.tenant.run(work)
    return clients


def _query(client_id: str, challenge: str, /, **extra: str | None) -> dict[str, str]:
    """An authorization request; an `extra` value of None leaves that parameter out."""
    base: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid read:timesheets",
        "audience": AUDIENCE,
        "state": STATE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return {k: v for k, v in (base | extra).items() if v is not None}


def _url(query: dict[str, str] | list[tuple[str, str]]) -> str:
    return "/authorize?" + urlencode(query)


def _params(response: httpx.Response, target: str) -> dict[str, str]:
    """The parameters of a 303 to `target`, each present once and none in a fragment."""
    assert response.status_code == 303, response.text
    parts = urlsplit(response.headers["location"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == target
    assert parts.fragment == ""
    pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
    assert len({name for name, _ in pairs}) == len(pairs), f"repeated parameter: {pairs}"
    return dict(pairs)


def _form(page: httpx.Response) -> dict[str, str]:
    """The hidden fields of a login or consent page."""
    csrf = CSRF.search(page.text)
    authorize = AUTHORIZE.search(page.text)
    assert csrf is not None, page.text
    assert authorize is not None, page.text
    return {"csrf": csrf.group(1), "authorize": html.unescape(authorize.group(1))}


def _set_cookies(response: httpx.Response) -> dict[str, dict[str, str]]:
    """{name: {"value": ..., lower-case attribute: value}} of the Set-Cookie headers."""
    cookies: dict[str, dict[str, str]] = {}
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = first.partition("=")
        cookies[name] = {"value": value}
        for attribute in attributes:
            key, _, setting = attribute.partition("=")
            cookies[name][key.lower()] = setting
    return cookies


def _assert_page_headers(response: httpx.Response) -> None:
    """RFC 9700 §4.16: never framed; no referrer leaves the origin; not cached; no CORS."""
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers.get_list("x-frame-options") == ["DENY"]
    directives = [d.strip() for d in response.headers["content-security-policy"].split(";")]
    ancestors = [d for d in directives if d.split(" ", 1)[0] == "frame-ancestors"]
    assert ancestors == ["frame-ancestors 'none'"]
    assert response.headers["referrer-policy"] in REFERRER_POLICIES
    assert response.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in response.headers


async def _sign_in(server: AuthServer, client_id: str) -> None:
    """Complete one login, leaving the session cookie in the client's jar."""
    _verifier, challenge = pkce_pair()
    result = await authorize_and_login(server.http, _query(client_id, challenge), EMAIL, PASSWORD)
    assert "code" in result.params, result.location


async def _assert_signed_in_gets_code(
    server: AuthServer, client_id: str, redirect_uri: str = REDIRECT
) -> None:
    """Control: this browser gets a code straight away for a correct request."""
    _verifier, challenge = pkce_pair()
    answer = await server.http.get(
        _url(_query(client_id, challenge, redirect_uri=redirect_uri, state="control"))
    )
    params = _params(answer, redirect_uri)
    assert params["state"] == "control"
    assert params["code"]


async def _assert_error_page(
    server: AuthServer, url: str, before: dict[str, int], reason: str
) -> httpx.Response:
    """400 page, no Location, nothing persisted, for the expected reason."""
    answer = await server.http.get(url)
    assert answer.status_code == 400, answer.text
    assert "location" not in answer.headers
    assert reason in answer.text
    _assert_page_headers(answer)
    assert await server.tenant.row_counts() == before
    return answer


# -- R01 -------------------------------------------------------------------------------

REDIRECT_VARIANTS = [
    pytest.param(REDIRECT + "/", id="trailing-slash"),
    pytest.param(REDIRECT + "x", id="path-suffix"),
    pytest.param("https://spa.example.com/CALLBACK", id="path-uppercase"),
    pytest.param("https://SPA.EXAMPLE.COM/callback", id="host-uppercase"),
    pytest.param("https://spa.example.com:443/callback", id="default-port"),
    pytest.param("http://spa.example.com/callback", id="http-scheme"),
    pytest.param(REDIRECT + "?x=1", id="query-added"),
    pytest.param(REDIRECT + "#f", id="fragment"),
    pytest.param("https://spa.example.com.evil.com/callback", id="host-suffix"),
    pytest.param("https://spa.example.com@evil.com/callback", id="userinfo-evil-host"),
    pytest.param("https://evil.com@spa.example.com/callback", id="userinfo-evil-user"),
    pytest.param(REDIRECT + "%2F..%2F..%2Fevil", id="encoded-traversal-out"),
    pytest.param("https://spa.example.com/evil%2F..%2Fcallback", id="encoded-traversal-in"),
    pytest.param(REDIRECT + "/;/../../evil", id="path-parameter-traversal"),
    pytest.param(REDIRECT + "%0A%0D", id="encoded-crlf"),
    pytest.param(REDIRECT + "\r\nSet-Cookie: a=b", id="raw-crlf"),
    pytest.param(quote(REDIRECT, safe=""), id="double-encoded"),
]


@pytest.mark.parametrize("redirect_uri", REDIRECT_VARIANTS)
async def test_R01_redirect_uri_variants_get_an_error_page_and_no_code(
    auth_server: AuthServer, redirect_uri: str
) -> None:
    """RFC 6749 §4.1.2.1, RFC 9700 §2.1, §4.11: exact string match, else a page."""
    clients = await _setup(auth_server)
    await _sign_in(auth_server, clients.spa)
    await _assert_signed_in_gets_code(auth_server, clients.spa)
    _verifier, challenge = pkce_pair()
    before = await auth_server.tenant.row_counts()
    await _assert_error_page(
        auth_server,
        _url(_query(clients.spa, challenge, redirect_uri=redirect_uri)),
        before,
        "redirect_uri is not registered",
    )


# -- R02 -------------------------------------------------------------------------------


async def test_R02_unknown_or_missing_client_id_gets_an_error_page(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §4.1.2.1: an unknown client is never redirected to, even to a valid URI."""
    clients = await _setup(auth_server)
    await _sign_in(auth_server, clients.spa)
    _verifier, challenge = pkce_pair()
    before = await auth_server.tenant.row_counts()
    for client_id in ("nobody-at-all", clients.spa.upper(), ""):
        query = _query(client_id, challenge)
        await _assert_error_page(auth_server, _url(query), before, "unknown client_id")
    await _assert_error_page(
        auth_server, _url(_query(clients.spa, challenge, client_id=None)), before, "client_id"
    )


async def test_R02_omitted_redirect_uri_with_two_registered_gets_an_error_page(
    auth_server: AuthServer,
) -> None:
    """OIDF oidcc-ensure-redirect-uri-in-authorization-request."""
    clients = await _setup(auth_server)
    await _sign_in(auth_server, clients.spa)
    await _assert_signed_in_gets_code(auth_server, clients.two, REDIRECT_2)
    _verifier, challenge = pkce_pair()
    before = await auth_server.tenant.row_counts()
    await _assert_error_page(
        auth_server,
        _url(_query(clients.two, challenge, redirect_uri=None)),
        before,
        "redirect_uri is required",
    )


async def test_R02_missing_response_type_redirects_with_error_and_state(
    auth_server: AuthServer,
) -> None:
    """RFC 6749 §4.1.2.1, RFC 9207 §2; OIDF oidcc-response-type-missing."""
    clients = await _setup(auth_server)
    await _sign_in(auth_server, clients.spa)
    _verifier, challenge = pkce_pair()
    before = await auth_server.tenant.row_counts()
    answer = await auth_server.http.get(_url(_query(clients.spa, challenge, response_type=None)))
    params = _params(answer, REDIRECT)
    assert params["error"] == "invalid_request"
    assert params["state"] == STATE
    assert params["iss"] == auth_server.settings.issuer
    assert "code" not in params
    assert answer.headers["cache-control"] == "no-store"
    assert await auth_server.tenant.row_counts() == before


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param("openid  read:timesheets", id="double-space"),
        pytest.param('openid read:"timesheets"', id="outside-grammar"),
        pytest.param("openid bogus:scope", id="unknown"),
    ],
)
async def test_R02_bad_scope_redirects_with_invalid_scope_and_state(
    auth_server: AuthServer, scope: str
) -> None:
    """RFC 6749 §3.3, §4.1.2.1; RFC 9207 §2 (iss in error responses too)."""
    clients = await _setup(auth_server)
    await _sign_in(auth_server, clients.spa)
    _verifier, challenge = pkce_pair()
    before = await auth_server.tenant.row_counts()
    answer = await auth_server.http.get(_url(_query(clients.spa, challenge, scope=scope)))
    params = _params(answer, REDIRECT)
    assert params["error"] == "invalid_scope"
    assert params["state"] == STATE
    assert params["iss"] == auth_server.settings.issuer
    assert "code" not in params
    assert await auth_server.tenant.row_counts() == before


# -- R03 -------------------------------------------------------------------------------

DUPLICABLE = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "audience",
    "code_challenge",
    "code_challenge_method",
)


async def test_R03_duplicate_parameters_get_an_error_page(auth_server: AuthServer) -> None:
    """RFC 6749 §3.1: parameters MUST NOT be included more than once.

    The server refuses on a page rather than redirecting: a duplicate might be the
    client_id or redirect_uri, which §4.1.2.1 forbids redirecting with.
    """
    clients = await _setup(auth_server)
    await _sign_in(auth_server, clients.spa)
    _verifier, challenge = pkce_pair()
    query = _query(clients.spa, challenge, nonce="n-1")
    before = await auth_server.tenant.row_counts()
    for name in DUPLICABLE:
        for repeat in (query[name], query[name] + "x"):
            pairs = [*query.items(), (name, repeat)]
            await _assert_error_page(
                auth_server, _url(pairs), before, f"parameter {name} is repeated"
            )
    await _assert_signed_in_gets_code(auth_server, clients.spa)


async def test_R03_unknown_parameters_are_ignored(auth_server: AuthServer) -> None:
    """RFC 6749 §3.1: the server MUST ignore unrecognized request parameters."""
    clients = await _setup(auth_server)
    await _sign_in(auth_server, clients.spa)
    verifier, challenge = pkce_pair()
    query = _query(clients.spa, challenge, extra="foobar", x_custom="1", **{"odd[]": "2"})
    answer = await auth_server.http.get(_url(query))
    params = _params(answer, REDIRECT)
    assert params["state"] == STATE
    assert set(params) == {"code", "state", "iss"}
    tokens = await auth_server.http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT,
            "client_id": clients.spa,
            "code_verifier": verifier,
        },
    )
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["token_type"] == "Bearer"


# -- R04 -------------------------------------------------------------------------------


async def test_R04_state_is_echoed_byte_exact(auth_server: AuthServer) -> None:
    """RFC 6749 §4.1.2, §10.12: the client's state comes back unchanged, error or not."""
    clients = await _setup(auth_server)
    await _sign_in(auth_server, clients.spa)
    _verifier, challenge = pkce_pair()
    for state in (STATE, "a+b%20c&d=e#f", "\U0001f600", "x" * 512, "=", "%"):
        answer = await auth_server.http.get(_url(_query(clients.spa, challenge, state=state)))
        assert _params(answer, REDIRECT)["state"] == state
        failed = await auth_server.http.get(
            _url(_query(clients.spa, challenge, state=state, response_type=None))
        )
        assert _params(failed, REDIRECT)["state"] == state
    # No state sent: none invented.
    answer = await auth_server.http.get(_url(_query(clients.spa, challenge, state=None)))
    assert "state" not in _params(answer, REDIRECT)
    # prompt=none in a browser without a session (OIDC Core §3.1.2.6), RFC 9207 §2.
    async with httpx.AsyncClient(base_url=auth_server.url, timeout=30) as browser:
        answer = await browser.get(_url(_query(clients.spa, challenge, prompt="none")))
    params = _params(answer, REDIRECT)
    assert params == {
        "error": "login_required",
        "error_description": "the person must sign in",
        "state": STATE,
        "iss": auth_server.url,
    }


async def test_R04_login_without_csrf_or_cross_site_is_refused(auth_server: AuthServer) -> None:
    """RFC 6749 §10.12, RFC 9700 §4.7: 403 and nothing persisted (no session, no code)."""
    clients = await _setup(auth_server)
    _verifier, challenge = pkce_pair()
    page = await auth_server.http.get(_url(_query(clients.spa, challenge)))
    assert page.status_code == 200
    form = _form(page) | {"email": EMAIL, "password": PASSWORD}
    no_csrf = {k: v for k, v in form.items() if k != "csrf"}
    before = await auth_server.tenant.row_counts()
    refusals: list[tuple[dict[str, str], dict[str, str]]] = [
        (no_csrf, {}),
        (form | {"csrf": ""}, {}),
        (form | {"csrf": form["csrf"][:-1] + ("0" if form["csrf"][-1] != "0" else "1")}, {}),
        (form, {"Origin": "https://evil.example"}),
        (form, {"Origin": "null"}),
        (form, {"Origin": ORIGIN}),  # a registered SPA is still another site to the AS
        (form, {"Origin": auth_server.url.replace("127.0.0.1", "localhost")}),
    ]
    for data, headers in refusals:
        answer = await auth_server.http.post("/login", data=data, headers=headers)
        assert answer.status_code == 403, (headers, answer.text)
        assert "location" not in answer.headers
        assert "ts_session" not in _set_cookies(answer)
        _assert_page_headers(answer)
    # The token without the browser's CSRF cookie (another browser) is refused too.
    async with httpx.AsyncClient(base_url=auth_server.url, timeout=30) as other:
        answer = await other.post("/login", data=form)
        assert answer.status_code == 403
    assert await auth_server.tenant.row_counts() == before
    # Control: the same form, same origin, signs in.
    same = await auth_server.http.post("/login", data=form, headers={"Origin": auth_server.url})
    assert _params(same, REDIRECT)["code"]


async def test_R04_consent_without_csrf_or_cross_site_is_refused(auth_server: AuthServer) -> None:
    """RFC 6749 §10.12, RFC 9700 §4.7 on the consent form; deny gives access_denied."""
    clients = await _setup(auth_server)
    _verifier, challenge = pkce_pair()
    query = _query(clients.partner, challenge, redirect_uri=PARTNER_REDIRECT)
    login = await auth_server.http.get(_url(query))
    consent = await auth_server.http.post(
        "/login", data=_form(login) | {"email": EMAIL, "password": PASSWORD}
    )
    assert consent.status_code == 200, consent.text
    assert 'action="/consent"' in consent.text
    form = _form(consent) | {"decision": "allow"}
    before = await auth_server.tenant.row_counts()
    refusals: list[tuple[dict[str, str], dict[str, str]]] = [
        ({k: v for k, v in form.items() if k != "csrf"}, {}),
        (form | {"csrf": "0" * len(form["csrf"])}, {}),
        (form, {"Origin": "https://evil.example"}),
        (form, {"Origin": "null"}),
        (form, {"Origin": PARTNER_ORIGIN}),
    ]
    for data, headers in refusals:
        answer = await auth_server.http.post("/consent", data=data, headers=headers)
        assert answer.status_code == 403, (headers, answer.text)
        assert "location" not in answer.headers
        _assert_page_headers(answer)
    assert await auth_server.tenant.row_counts() == before
    denied = await auth_server.http.post("/consent", data=form | {"decision": "deny"})
    params = _params(denied, PARTNER_REDIRECT)
    assert params["error"] == "access_denied"
    assert params["state"] == STATE
    assert params["iss"] == auth_server.settings.issuer
    assert await auth_server.tenant.row_counts() == before
    allowed = await auth_server.http.post("/consent", data=form)
    params = _params(allowed, PARTNER_REDIRECT)
    assert params["code"]
    assert params["state"] == STATE


async def test_R04_session_cookie_is_httponly_samesite_and_rotated_at_login(
    auth_server: AuthServer,
) -> None:
    """RFC 9700 §4.7; session fixation: every login gets a new session id, the old dies.

    Cookies are sent by hand so that exactly the intended session value reaches the server.
    """
    clients = await _setup(auth_server)
    _verifier, challenge = pkce_pair()
    url = _url(_query(clients.spa, challenge))
    async with httpx.AsyncClient(base_url=auth_server.url, timeout=30) as browser:

        async def get(target: str, session: str, csrf: str = "") -> httpx.Response:
            jar = f"ts_session={session}" + (f"; ts_csrf={csrf}" if csrf else "")
            return await browser.get(target, headers={"Cookie": jar})

        async def login(page: httpx.Response, session: str, csrf: str) -> httpx.Response:
            return await browser.post(
                "/login",
                data=_form(page) | {"email": EMAIL, "password": PASSWORD},
                headers={"Cookie": f"ts_session={session}; ts_csrf={csrf}"},
            )

        page = await get(url, "planted-by-an-attacker")
        assert page.status_code == 200  # the planted value signs nobody in
        csrf = _set_cookies(page)["ts_csrf"]
        assert "httponly" in csrf
        assert csrf["samesite"].lower() == "strict"
        first = await login(page, "planted-by-an-attacker", csrf["value"])
        assert _params(first, REDIRECT)["code"]
        cookie = _set_cookies(first)["ts_session"]
        assert cookie["value"] not in ("", "planted-by-an-attacker")
        assert "httponly" in cookie
        assert cookie["samesite"].lower() in ("lax", "strict")
        assert cookie["path"] == "/"
        assert "secure" not in cookie  # plain-http loopback issuer; see the https test
        sessions = (await auth_server.tenant.row_counts())["login_sessions"]

        # Signing in again (prompt=login) replaces the session.
        prompt = _url(_query(clients.spa, challenge, prompt="login"))
        again = await get(prompt, cookie["value"], csrf["value"])
        assert again.status_code == 200
        second = await login(again, cookie["value"], csrf["value"])
        assert _params(second, REDIRECT)["code"]
        rotated = _set_cookies(second)["ts_session"]["value"]
        assert rotated not in ("", cookie["value"])
        assert (await auth_server.tenant.row_counts())["login_sessions"] == sessions
        assert (await get(url, cookie["value"])).status_code == 200  # the old one is dead
        assert _params(await get(url, rotated), REDIRECT)["code"]


@pytest.fixture
async def https_issuer_server(
    auth_server: AuthServer, make_auth_settings: Callable[..., AuthServerSettings]
) -> AsyncIterator[httpx.AsyncClient]:
    """A second server process on the same database, configured as shipped: an https
    issuer (TLS ends at the proxy in front; the test talks plain HTTP to it)."""
    settings = make_auth_settings(
        auth_server.settings.database_url, issuer="https://auth.timesheets.test"
    )
    live = serve_in_thread(create_app(settings), settings.port)
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
            yield http
    finally:
        live.stop()


async def test_R04_cookies_are_secure_under_an_https_issuer(
    auth_server: AuthServer, https_issuer_server: httpx.AsyncClient
) -> None:
    """RFC 9700 §4.7 / RFC 6265 §4.1.2.5: Secure, HttpOnly and SameSite in production."""
    clients = await _setup(auth_server)
    _verifier, challenge = pkce_pair()
    page = await https_issuer_server.get(_url(_query(clients.spa, challenge)))
    assert page.status_code == 200
    csrf = _set_cookies(page)["ts_csrf"]
    assert {"secure", "httponly"} <= set(csrf)
    assert csrf["samesite"].lower() == "strict"
    # The jar keeps Secure cookies off plain HTTP, so send the CSRF cookie by hand.
    answer = await https_issuer_server.post(
        "/login",
        data=_form(page) | {"email": EMAIL, "password": PASSWORD},
        headers={"Cookie": f"ts_csrf={csrf['value']}"},
    )
    params = _params(answer, REDIRECT)
    assert params["iss"] == "https://auth.timesheets.test"
    session = _set_cookies(answer)["ts_session"]
    assert {"secure", "httponly"} <= set(session)
    assert session["samesite"].lower() in ("lax", "strict")


# -- R05 -------------------------------------------------------------------------------


async def test_R05_login_consent_and_error_pages_cannot_be_framed(
    auth_server: AuthServer,
) -> None:
    """RFC 9700 §4.16 (clickjacking); OAuch HasFrameOptionsTest."""
    clients = await _setup(auth_server)
    _verifier, challenge = pkce_pair()
    login = await auth_server.http.get(
        _url(_query(clients.partner, challenge, redirect_uri=PARTNER_REDIRECT))
    )
    assert login.status_code == 200
    assert 'action="/login"' in login.text
    wrong = await auth_server.http.post(
        "/login", data=_form(login) | {"email": EMAIL, "password": "not the password"}
    )
    assert wrong.status_code == 401
    consent = await auth_server.http.post(
        "/login", data=_form(login) | {"email": EMAIL, "password": PASSWORD}
    )
    assert consent.status_code == 200
    assert 'action="/consent"' in consent.text
    refused = await auth_server.http.post("/consent", data={"decision": "allow"})
    assert refused.status_code == 403
    bad = await auth_server.http.get(_url(_query(clients.spa, challenge, redirect_uri=ORIGIN)))
    assert bad.status_code == 400
    signed_out = await auth_server.http.get("/logout")
    assert signed_out.status_code == 200
    for page in (login, wrong, consent, refused, bad, signed_out):
        _assert_page_headers(page)


# -- R06 -------------------------------------------------------------------------------


async def _login_attempt(
    server: AuthServer, form: dict[str, str], email: str, password: str, address: str
) -> httpx.Response:
    """A login POST from `address` (uvicorn takes X-Forwarded-For from the loopback proxy)."""
    return await server.http.post(
        "/login",
        data=form | {"email": email, "password": password},
        headers={"X-Forwarded-For": address},
    )


async def _login_form(server: AuthServer, client_id: str) -> dict[str, str]:
    _verifier, challenge = pkce_pair()
    page = await server.http.get(_url(_query(client_id, challenge)))
    assert page.status_code == 200
    return _form(page)


def _assert_throttled(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert int(answer.headers["retry-after"]) > 0
    assert "location" not in answer.headers
    assert "ts_session" not in _set_cookies(answer)
    _assert_page_headers(answer)


async def test_R06_login_is_throttled_per_account(auth_server: AuthServer) -> None:
    """RFC 6749 §10.10: failures on one account from many addresses lock that account."""
    clients = await _setup(auth_server, second_user=True)
    form = await _login_form(auth_server, clients.spa)
    for n in range(auth_server.settings.login_failure_limit):
        wrong = await _login_attempt(auth_server, form, EMAIL, "wrong password", f"10.0.0.{n + 1}")
        assert wrong.status_code == 401
    before = await auth_server.tenant.row_counts()
    _assert_throttled(await _login_attempt(auth_server, form, EMAIL, PASSWORD, "10.0.9.9"))
    assert await auth_server.tenant.row_counts() == before
    # Control: the lock is the account's, not the address's or everyone's.
    other = await _login_attempt(auth_server, form, OTHER_EMAIL, PASSWORD, "10.0.9.9")
    assert _params(other, REDIRECT)["code"]


async def test_R06_login_is_throttled_per_address(auth_server: AuthServer) -> None:
    """RFC 6749 §10.10: one address trying many accounts is locked out."""
    clients = await _setup(auth_server)
    form = await _login_form(auth_server, clients.spa)
    for n in range(auth_server.settings.login_failure_limit):
        email = f"guess{n}@abc.example"
        wrong = await _login_attempt(auth_server, form, email, "wrong password", "10.0.1.1")
        assert wrong.status_code == 401
    before = await auth_server.tenant.row_counts()
    _assert_throttled(await _login_attempt(auth_server, form, EMAIL, PASSWORD, "10.0.1.1"))
    assert await auth_server.tenant.row_counts() == before
    other = await _login_attempt(auth_server, form, EMAIL, PASSWORD, "10.0.1.2")
    assert _params(other, REDIRECT)["code"]


async def test_R06_unknown_user_and_wrong_password_answer_identically(
    auth_server: AuthServer,
) -> None:
    """No account enumeration: same status, headers and page, the email aside."""
    clients = await _setup(auth_server)
    form = await _login_form(auth_server, clients.spa)
    unknown_email = "eran@abc.example"  # as long as EMAIL, so lengths match too
    unknown = await _login_attempt(auth_server, form, unknown_email, "wrong password", "10.0.2.1")
    wrong = await _login_attempt(auth_server, form, EMAIL, "wrong password", "10.0.2.2")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.text.replace(unknown_email, "EMAIL") == wrong.text.replace(EMAIL, "EMAIL")

    def headers(answer: httpx.Response) -> list[tuple[str, str]]:
        per_request = ("date", "x-request-id")
        return sorted((k, v) for k, v in answer.headers.multi_items() if k not in per_request)

    assert headers(unknown) == headers(wrong)


# -- R07 -------------------------------------------------------------------------------

FOREIGN_ORIGINS = (
    "https://evil.example",
    "null",
    "*",
    ORIGIN + "/",
    "http://spa.example.com",
    "https://SPA.example.com",
    "https://spa.example.com:443",
    "https://spa.example.com.evil.com",
    "https://sub.spa.example.com",
)
CORS_CALLS = (("POST", "/oauth/token"), ("POST", "/oauth/revoke"), ("GET", "/userinfo"))


def _vary(answer: httpx.Response) -> set[str]:
    return {
        part.strip().lower()
        for value in answer.headers.get_list("vary")
        for part in value.split(",")
    }


async def test_R07_cors_only_for_registered_origins_with_vary(auth_server: AuthServer) -> None:
    """node cors.test.js: ACAO is the registered origin itself, never `*`, Vary: Origin."""
    await _setup(auth_server)
    for method, path in CORS_CALLS:
        ours = await auth_server.http.request(
            method, path, data={} if method == "POST" else None, headers={"Origin": ORIGIN}
        )
        assert ours.status_code < 500
        assert ours.headers.get_list("access-control-allow-origin") == [ORIGIN], path
        assert "origin" in _vary(ours)
        assert ours.headers.get("access-control-allow-credentials") in (None, "true")
        preflight = await auth_server.http.options(
            path,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers.get_list("access-control-allow-origin") == [ORIGIN]
        assert "origin" in _vary(preflight)
        for origin in FOREIGN_ORIGINS:
            other = await auth_server.http.request(
                method, path, data={} if method == "POST" else None, headers={"Origin": origin}
            )
            assert "access-control-allow-origin" not in other.headers, (path, origin)
            assert "access-control-allow-credentials" not in other.headers
            assert "origin" in _vary(other)
            refused = await auth_server.http.options(
                path, headers={"Origin": origin, "Access-Control-Request-Method": method}
            )
            assert refused.status_code == 403
            assert "access-control-allow-origin" not in refused.headers, (path, origin)
            assert "origin" in _vary(refused)


async def test_R07_authorize_login_and_consent_have_no_cors(auth_server: AuthServer) -> None:
    """The browser-facing pages are navigations, never cross-origin fetches."""
    clients = await _setup(auth_server)
    _verifier, challenge = pkce_pair()
    for origin in (ORIGIN, PARTNER_ORIGIN, "null"):
        answers = [
            await auth_server.http.get(
                _url(_query(clients.spa, challenge)), headers={"Origin": origin}
            ),
            await auth_server.http.post("/login", data={}, headers={"Origin": origin}),
            await auth_server.http.post("/consent", data={}, headers={"Origin": origin}),
        ]
        for path in ("/authorize", "/login", "/consent"):
            answers.append(
                await auth_server.http.options(
                    path, headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
                )
            )
        for answer in answers:
            assert answer.status_code < 500
            assert not any(k.startswith("access-control-") for k in answer.headers), (
                answer.request.url,
                dict(answer.headers),
            )
