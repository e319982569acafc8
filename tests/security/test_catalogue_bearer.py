"""Security catalogue J01-J15 and B01-B05 against the running Timesheets API, over HTTP.

Cases of /work/shared/SECURITY-TESTS.md, sections A and B. A refused request is a write
(`POST /timesheets` with a valid entry) unless the case names other endpoints. Each test
checks the exact status, the single `WWW-Authenticate` challenge, `Cache-Control` and the
JSON body; that no table gained or lost a row (`Api.row_counts`); and that the test
issuer, which counts its discovery and JWKS requests, was asked for nothing (or, where a
case is about fetching, exactly what the case allows). A positive control (the same
request with a valid token succeeds) shows each test can fail.

Configurations:
- `watched`: the shipped configuration (RS256 only) with `jwks_refetch_seconds=0`, so a
  token that reached the key cache with an unknown kid would refetch the JWKS at once:
  "no fetch" then proves the token never reached a key lookup, not that a cooldown hid it.
- HS256 (J03) and ES256 (J02 DER, J04) are selectable algorithms, so those cases also run
  with them enabled; the shipped default allow-list is {RS256}.
- J07 and J15 run the shipped configuration with the running API's JWKS cache on a fake
  monotonic clock, so cooldown and max-age are exact without sleeping.

Deviation from the catalogue's letter, by design: `=` or whitespace inside a token breaks
the RFC 6750 §2.1 b64token grammar, so the Authorization header itself is malformed: 400
invalid_request (like B01's `Bearer a b`), not 401. `=` at the end, `+` and `/` reach the
JWS parser: 401. Whitespace around the token is HTTP OWS, not part of it.

Not applicable here: the publishing half of J15 (no private members in the JWKS, unique
kids, use=sig, RSA >= 2048 bits, old and new keys listed after a rotation, new tokens
carrying the new kid) is a property of the authorization server's JWKS, not of this API;
J15 here covers what the API does with the keys it is given.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.api.conftest import Api, api, issuer, make_api_settings
from tests.api.seed import SEED
from tests.bearer.conftest import FakeClock, b64url, forge, hs256, segment
from tests.issuer import ALL_SCOPES
from tests.issuer import TestIssuer as Issuer
from tests.live import serve_in_thread
from timesheets.api.app import create_app
from timesheets.bearer.jwks import JwksCache
from timesheets.settings import ApiSettings

PERSON_ENTRY = {key: value for key, value in SEED.items() if key != "user_id"}
UPLOAD = {"external_id": "x-1", "user_id": "u1", "date": "2026-12-01", "project": "P", "hours": 2}
MESSAGE = "Missing or invalid token"
BARE_CHALLENGE = 'Bearer realm="timesheets"'
# RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E.
DESCRIPTION_CHARS = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
HS_SECRET = "0123456789abcdef0123456789abcdef"
MAX_TOKEN_BYTES = 8192
FLOOD_CONNECTIONS = 16

BAD_ALG = "the signing algorithm is not accepted"
BAD_SIGNATURE = "the token signature is invalid"
UNKNOWN_KEY = "the token is signed with an unknown key"
UNSIGNED = "the token is unsigned"
NOT_COMPACT = "the token is not a compact JWS"
TOO_LARGE = "the token is too large"
NOT_AT_JWT = "the token is not an access token (typ)"
ONE_TOKEN = "the Authorization header must hold exactly one bearer token"
HEADER_ONLY = "the token must be sent in the Authorization header only"

Serve = Callable[..., Awaitable[Api]]
#: Fixtures of tests/api/conftest.py, registered here because pytest finds them by import.
FIXTURES = (api, issuer, make_api_settings)


# --- running APIs ----------------------------------------------------------------------


@pytest.fixture
async def serve(
    issuer: Issuer,
    database_url: str,
    make_api_settings: Callable[..., ApiSettings],
) -> AsyncIterator[Serve]:
    """Start the API on loopback with settings overrides: `await serve(**overrides)`."""
    started: list[Api] = []

    async def start(**overrides: Any) -> Api:
        settings = make_api_settings(issuer, database_url, **overrides)
        live = serve_in_thread(create_app(settings), settings.port)
        running = Api(live, settings, issuer, httpx.AsyncClient(base_url=live.url, timeout=30))
        started.append(running)
        return running

    yield start
    for running in started:
        await running.http.aclose()
        running.live.stop()


@pytest.fixture
async def watched(serve: Serve) -> Api:
    """The shipped configuration, but any unknown kid refetches; keys already fetched once."""
    running = await serve(jwks_refetch_seconds=0)
    response = await running.http.get("/timesheets", headers=bearer(running.issuer.token()))
    assert response.status_code == 200, response.text
    assert fetches(running.issuer) == [(1, 1)]
    return running


def fake_clock(running: Api) -> FakeClock:
    """Put the running API's JWKS cache on a fake monotonic clock, before its first fetch."""
    app = running.live.app
    while not hasattr(app, "state"):  # through the ASGI wrappers around the FastAPI app
        app = app.app
    cache = app.state.verifier.keys.jwks
    assert isinstance(cache, JwksCache)
    assert cache.fetches == 0
    clock = FakeClock()
    cache.clock = clock
    return clock


# --- requests and assertions -----------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    """An Authorization header carrying `token`."""
    return {"Authorization": f"Bearer {token}"}


def fetches(*issuers: Issuer) -> list[tuple[int, int]]:
    """(discovery, JWKS) requests each issuer has served."""
    return [(each.discovery_fetches, each.jwks_fetches) for each in issuers]


def assert_bearer_error(
    response: httpx.Response, status: int, error: str, description: str, scope: str = ""
) -> None:
    """Exactly one RFC 6750 challenge with this error, the JSON body, and no-store."""
    assert response.status_code == status, response.text
    challenge = f'Bearer realm="timesheets", error="{error}", error_description="{description}"'
    if scope:
        challenge += f', scope="{scope}"'
    assert response.headers.get_list("www-authenticate") == [challenge]
    assert DESCRIPTION_CHARS.fullmatch(description)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    message = "Insufficient scope" if status == 403 else MESSAGE
    assert response.json() == {"message": message, "error": error, "error_description": description}


def assert_no_credentials(response: httpx.Response) -> None:
    """RFC 6750 §3.1: 401 with a bare challenge (no error code) and the seed's message."""
    assert response.status_code == 401, response.text
    assert response.headers.get_list("www-authenticate") == [BARE_CHALLENGE]
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {"message": MESSAGE}


async def refused(
    running: Api,
    token: str,
    description: str,
    *,
    status: int = 401,
    error: str = "invalid_token",
    scope: str = "",
    also: tuple[Issuer, ...] = (),
) -> None:
    """POST a valid entry with `token`: refused exactly so, and no key fetched from anyone."""
    before = fetches(running.issuer, *also)
    response = await running.http.post("/timesheets", json=SEED, headers=bearer(token))
    assert_bearer_error(response, status, error, description, scope)
    assert fetches(running.issuer, *also) == before, f"{description}: the API fetched keys"


async def accepted(running: Api, token: str) -> None:
    """Positive control: the same write with `token` is stored."""
    before = await running.row_counts()
    response = await running.http.post("/timesheets", json=SEED, headers=bearer(token))
    assert response.status_code == 201, response.text
    assert (await running.row_counts())["entries"] == before["entries"] + 1


@asynccontextmanager
async def nothing_stored(running: Api) -> AsyncIterator[None]:
    """NP: every table has the same number of rows afterwards."""
    before = await running.row_counts()
    yield
    assert await running.row_counts() == before, "a refused request changed the database"


def tamper(token: str, header: dict[str, Any] | None = None) -> str:
    """The token with another header and its (now wrong) signature."""
    _, body, signature = token.split(".")
    return f"{segment(header)}.{body}.{signature}" if header else token


def decoded(part: str) -> bytes:
    """The bytes of one base64url segment."""
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# --- J01: alg none ---------------------------------------------------------------------


async def test_J01_alg_none_and_empty_signatures(watched: Api) -> None:
    """RFC 8725 §3.1: `none` in any case, with or without a signature, and an RS256 token
    whose signature is empty, are refused before any key lookup."""
    iss = watched.issuer
    async with nothing_stored(watched):
        for alg in ("none", "None", "NONE", "nOnE"):
            header = {"alg": alg, "typ": "at+jwt", "kid": iss.kid}
            await refused(watched, forge(header, iss.claims(), b""), UNSIGNED)
            await refused(watched, forge(header, iss.claims(), b"x"), BAD_ALG)
            await refused(watched, tamper(iss.token(), header), BAD_ALG)
        head, body, _ = iss.token().split(".")
        await refused(watched, f"{head}.{body}.", UNSIGNED)
    await accepted(watched, iss.token())


# --- J02: malformed tokens ----------------------------------------------------------------


async def test_J02_malformed_structure_and_signatures(watched: Api) -> None:
    """Null or truncated signature, 1, 2 or 5 segments, a signed non-object payload."""
    iss = watched.issuer
    head, body, signature = iss.token().split(".")
    raw = decoded(signature)
    header = {"alg": "RS256", "typ": "at+jwt", "kid": iss.kid}
    async with nothing_stored(watched):
        await refused(watched, f"{head}.{body}.", UNSIGNED)
        await refused(watched, f"{head}.{body}.{b64url(raw[:-1])}", BAD_SIGNATURE)
        await refused(watched, f"{head}.{body}.{b64url(raw[:128])}", BAD_SIGNATURE)
        await refused(watched, f"{head}.{body}.AAAA", BAD_SIGNATURE)
        await refused(watched, head, NOT_COMPACT)
        await refused(watched, f"{head}.{body}", NOT_COMPACT)
        await refused(watched, f"{head}.{body}.{signature}.AAAA.AAAA", NOT_COMPACT)
        for payload in (b"[]", b'"importer"', b"42", b"null", b"true"):
            await refused(watched, iss.raw(header, payload), "the payload is not a JSON object")
    await accepted(watched, iss.raw(header, iss.claims()))


async def test_J02_der_encoded_ecdsa_signature(serve: Serve) -> None:
    """RFC 7518 §3.4 with ES256 enabled: a DER signature is refused, raw R||S verifies."""
    running = await serve(algorithms=["RS256", "ES256"], jwks_refetch_seconds=0)
    iss = running.issuer
    kid = iss.add_key("ec-1", alg="ES256")
    await accepted(running, iss.token(kid=kid, alg="ES256"))
    signing_input = iss.token(kid=kid, alg="ES256").rsplit(".", 1)[0]
    private = iss.keys[kid]
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    der = private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    async with nothing_stored(running):
        await refused(running, f"{signing_input}.{b64url(der)}", BAD_SIGNATURE)
    r, s = decode_dss_signature(der)
    await accepted(
        running, f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    )


# --- J03: algorithm confusion ----------------------------------------------------------------


def hmac_secrets(iss: Issuer) -> list[bytes]:
    """An attacker's HMAC secrets: the public key in several forms, blank, common ones."""
    public = iss.keys[iss.kid].public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    n = public.public_numbers().n
    return [
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        n.to_bytes((n.bit_length() + 7) // 8, "big"),
        RSAAlgorithm.to_jwk(public).encode(),
        b"",
        b"secret",
        b"your-256-bit-secret",
        b"changeme",
    ]


async def test_J03_hs256_and_other_algorithms_under_the_shipped_allow_list(watched: Api) -> None:
    """RFC 8725 §3.1: with {RS256}, HS256 keyed with the public key (PEM, PKCS#1, DER, raw
    n, JWK), blank or common secrets, `rs256`, other RS/PS/ES/HS names and a genuine PS256
    signature are refused by the allow-list."""
    iss = watched.issuer
    async with nothing_stored(watched):
        for secret in hmac_secrets(iss):
            for header in (
                {"alg": "HS256", "typ": "at+jwt", "kid": iss.kid},
                {"alg": "HS256", "typ": "at+jwt"},
            ):
                await refused(watched, hs256(header, iss.claims(), secret), BAD_ALG)
        for alg in ("rs256", "Rs256", "RS256 ", "RS384", "RS512", "PS256", "ES256", "HS512"):
            header = {"alg": alg, "typ": "at+jwt", "kid": iss.kid}
            await refused(watched, tamper(iss.token(), header), BAD_ALG)
        await refused(watched, iss.token(alg="PS256"), BAD_ALG)
    await accepted(watched, iss.token())


async def test_J03_hs256_enabled_verifies_only_the_configured_secret(serve: Serve) -> None:
    """An API configured with RS256 and HS256 verifies HS256 with its own secret only,
    never with a JWKS key, whatever kid the token names."""
    running = await serve(algorithms=["RS256", "HS256"], hs256_secret=HS_SECRET)
    iss = running.issuer
    async with nothing_stored(running):
        for secret in [*hmac_secrets(iss), HS_SECRET[:-1].encode(), b"0" * 32]:
            for header in (
                {"alg": "HS256", "typ": "at+jwt", "kid": iss.kid},
                {"alg": "HS256", "typ": "at+jwt"},
            ):
                await refused(running, hs256(header, iss.claims(), secret), BAD_SIGNATURE)
    assert fetches(iss) == [(0, 0)], "HS256 tokens must never look at the JWKS"
    await accepted(
        running, hs256({"alg": "HS256", "typ": "at+jwt"}, iss.claims(), HS_SECRET.encode())
    )


# --- J04: psychic ECDSA signatures -------------------------------------------------------


async def test_J04_ecdsa_zero_and_order_signatures_with_es256_enabled(serve: Serve) -> None:
    """CVE-2022-21449: with ES256 enabled, r or s equal to 0 or n never verifies."""
    running = await serve(algorithms=["RS256", "ES256"], jwks_refetch_seconds=0)
    iss = running.issuer
    kid = iss.add_key("ec-1", alg="ES256")
    await accepted(running, iss.token(kid=kid, alg="ES256"))
    signing_input = iss.token(kid=kid, alg="ES256").rsplit(".", 1)[0]
    n = P256_ORDER
    async with nothing_stored(running):
        for r, s in ((0, 0), (n, n), (0, 1), (1, 0), (n, 1), (1, n)):
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
            await refused(running, f"{signing_input}.{b64url(signature)}", BAD_SIGNATURE)


# --- J05: hostile kids -----------------------------------------------------------------


class _Watch:
    """What the process did meanwhile: files opened, processes started, SQL run."""

    events: list[tuple[str, Any]] | None = None
    hooked = False
    names = frozenset(
        {"open", "os.listdir", "os.scandir", "os.system", "os.exec", "os.posix_spawn"}
        | {"os.fork", "subprocess.Popen"}
    )

    @classmethod
    def audit(cls, name: str, args: tuple[Any, ...]) -> None:
        if cls.events is not None and name in cls.names:
            cls.events.append((name, args))


@contextmanager
def side_effects() -> Iterator[list[tuple[str, Any]]]:
    """Record file opens and process starts (audit hooks, all threads) and SQL statements."""
    if not _Watch.hooked:
        sys.addaudithook(_Watch.audit)  # audit hooks cannot be removed; idle outside this
        _Watch.hooked = True
    seen: list[tuple[str, Any]] = []

    def statement(*args: Any) -> None:
        seen.append(("sql", args[2]))

    event.listen(Engine, "before_cursor_execute", statement)
    _Watch.events = seen
    try:
        yield seen
    finally:
        _Watch.events = None
        event.remove(Engine, "before_cursor_execute", statement)


async def test_J05_hostile_kids_are_answered_fast_without_lookups(watched: Api) -> None:
    """RFC 8725 §3.10: a kid is never a path, query or command. Malformed kids (quotes, SQL,
    shell, a number, CRLF, a list, empty) are refused before the key cache even though a
    refetch is allowed at any time here; a 1 MB kid by size. Each reply is fast, with one
    well-formed challenge, and nothing opens a file, starts a process or runs SQL.
    `../../../../dev/null` is a well-formed kid: only a key-set lookup, which (refetch
    cooldown 0 here; 10 s when shipped, J07) refetches the configured issuer's JWKS once."""
    iss = watched.issuer
    malformed: list[Any] = [
        "x' UNION SELECT '1';--",
        "' OR '1'='1",
        "|sleep 10",
        "$(sleep 10)",
        "`sleep 10`",
        123,
        'a"b',
        "a\r\nSet-Cookie: x=1",
        "a\\b",
        "",
        ["rsa-1"],
        "A" * 129,
    ]
    async with nothing_stored(watched):
        with side_effects() as seen:
            await asyncio.to_thread(lambda: open(sys.executable, "rb").close())  # control
            assert [name for name, _ in seen] == ["open"]
            seen.clear()
            for kid in [*malformed, "A" * 1_000_000, "../../../../dev/null"]:
                header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
                token = iss.raw(header, iss.claims())
                started = time.monotonic()
                if kid == "../../../../dev/null":
                    response = await watched.http.post(
                        "/timesheets", json=SEED, headers=bearer(token)
                    )
                    assert_bearer_error(response, 401, "invalid_token", UNKNOWN_KEY)
                    assert fetches(iss) == [(1, 2)], "one refetch of the issuer's own JWKS"
                elif isinstance(kid, str) and len(kid) > MAX_TOKEN_BYTES:
                    await refused(watched, token, TOO_LARGE)
                else:
                    await refused(watched, token, "malformed kid")
                assert time.monotonic() - started < 2, f"slow reply for kid {str(kid)[:30]!r}"
            assert seen == [], f"a hostile kid caused lookups: {seen[:3]}"
            response = await watched.http.get("/timesheets", headers=bearer(iss.token()))
            assert response.status_code == 200
            assert any(name == "sql" for name, _ in seen), "the watch sees SQL (control)"


# --- J06: keys named by the token ----------------------------------------------------------


async def test_J06_token_supplied_keys_are_never_fetched_or_used(watched: Api) -> None:
    """RFC 8725 §3.10 (CVE-2018-0114): an embedded `jwk`, `jku`/`x5u` at an attacker's
    server (which counts its requests) and `x5c` are refused, with zero fetches anywhere,
    whether the token is signed by the attacker's key or genuinely by ours."""
    iss = watched.issuer
    attacker = Issuer().start()
    try:
        attacker_key = attacker.keys[attacker.kid].public_key()
        assert isinstance(attacker_key, rsa.RSAPublicKey)
        values: dict[str, Any] = {
            "jwk": RSAAlgorithm.to_jwk(attacker_key, as_dict=True) | {"kid": attacker.kid},
            "jku": f"{attacker.url}/jwks",
            "x5u": f"{attacker.url}/jwks",
            "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
        }
        async with nothing_stored(watched):
            for member, value in values.items():
                description = f"header member {member} is not accepted"
                forged = attacker.token(iss.claims(), headers={member: value})
                await refused(watched, forged, description, also=(attacker,))
                genuine = iss.token(headers={member: value})
                await refused(watched, genuine, description, also=(attacker,))
        assert fetches(attacker) == [(0, 0)]
    finally:
        attacker.stop()
    await accepted(watched, iss.token())


# --- J07: kid floods and new keys ----------------------------------------------------------


async def flood(running: Api, template: str, count: int) -> None:
    """`count` concurrent writes whose tokens name random unknown kids, all refused."""
    tokens = [
        tamper(template, {"alg": "RS256", "typ": "at+jwt", "kid": secrets.token_urlsafe(12)})
        for _ in range(count)
    ]

    async def sender(share: list[str]) -> None:
        for token in share:
            response = await running.http.post("/timesheets", json=SEED, headers=bearer(token))
            assert_bearer_error(response, 401, "invalid_token", UNKNOWN_KEY)

    await asyncio.gather(*(sender(tokens[n::FLOOD_CONNECTIONS]) for n in range(FLOOD_CONNECTIONS)))


async def test_J07_a_kid_flood_refetches_at_most_once_per_cooldown(api: Api) -> None:
    """Shipped configuration (10 s cooldown): 1,000 random kids within the cooldown cause
    no refetch; 200 more once it has passed cause exactly one."""
    clock = fake_clock(api)
    iss = api.issuer
    await accepted(api, iss.token())
    assert fetches(iss) == [(1, 1)]
    template = iss.token()
    async with nothing_stored(api):
        await flood(api, template, 1000)
        assert fetches(iss) == [(1, 1)]
        clock.advance(api.settings.jwks_refetch_seconds)
        await flood(api, template, 200)
        assert fetches(iss) == [(1, 2)]


async def test_J07_a_new_kid_validates_after_one_refetch(api: Api) -> None:
    """A genuinely new key is found with one refetch and then served from the cache; after
    a flood has used the refetch, a new kid waits at most one cooldown."""
    clock = fake_clock(api)
    iss = api.issuer
    cooldown = api.settings.jwks_refetch_seconds
    await accepted(api, iss.token())
    new = iss.add_key("rotated-1")
    clock.advance(cooldown)
    await accepted(api, iss.token(kid=new))
    assert fetches(iss) == [(1, 2)]
    await accepted(api, iss.token(kid=new))
    assert fetches(iss) == [(1, 2)]
    clock.advance(cooldown)
    async with nothing_stored(api):
        await flood(api, iss.token(), 100)
        assert fetches(iss) == [(1, 3)]
        newer = iss.add_key("rotated-2")
        await refused(api, iss.token(kid=newer), UNKNOWN_KEY)
    clock.advance(cooldown)
    await accepted(api, iss.token(kid=newer))
    assert fetches(iss) == [(1, 4)]


# --- J08: time claims ---------------------------------------------------------------------


async def test_J08_time_claims(watched: Api) -> None:
    """RFC 7519 §4.1.4-4.1.6, RFC 9068 §2.2, 30 s leeway, 24 h maximum lifetime: exp past or
    missing, nbf or iat in the future, too long a lifetime (millisecond timestamps), and
    NumericDates given as "123", a numeric string, true, 1e400 or NaN."""
    iss = watched.issuer
    now = int(time.time())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"iat": now - 700, "exp": now - 100}, "the token has expired"),
        ({"iat": now - 660, "exp": now - 60}, "the token has expired"),
        ({"exp": None}, "the exp claim is required"),
        ({"iat": None}, "the iat claim is required"),
        ({"nbf": now + 120}, "the token is not valid yet"),
        ({"iat": now + 120, "exp": now + 720}, "the token was issued in the future"),
        ({"iat": now, "exp": now + 86400 + 120}, "the token lives longer than allowed"),
        ({"iat": now * 1000, "exp": now * 1000 + 600_000}, "the token was issued in the future"),
        ({"exp": (now + 600) * 1000}, "the token lives longer than allowed"),
        ({"iat": now - 86400 * 365, "exp": now + 600}, "the token lives longer than allowed"),
    ]
    for name in ("exp", "iat", "nbf"):
        for value in ("123", str(now), True, [now]):
            cases.append(({name: value}, f"the {name} claim is not a NumericDate"))
    header = {"alg": "RS256", "typ": "at+jwt", "kid": iss.kid}
    async with nothing_stored(watched):
        for overrides, description in cases:
            await refused(watched, iss.token(iss.claims(**overrides)), description)
        for name in ("exp", "iat", "nbf"):
            for literal, description in (
                (b"1e400", f"the {name} claim is not a NumericDate"),
                (b"-1e400", f"the {name} claim is not a NumericDate"),
                (b"NaN", "NaN is not valid JSON"),
                (b"Infinity", "Infinity is not valid JSON"),
            ):
                claims = iss.claims() | {name: "__VALUE__"}
                payload = json.dumps(claims).encode().replace(b'"__VALUE__"', literal)
                await refused(watched, iss.raw(header, payload), description)
    for overrides in ({"iat": now - 600, "exp": now - 5}, {"nbf": now + 5}, {"iat": now + 5}):
        await accepted(watched, iss.token(iss.claims(**overrides)))


# --- J09: issuer ---------------------------------------------------------------------------


async def test_J09_issuer_must_match_exactly(watched: Api) -> None:
    """RFC 9068 §4 (GHSA-75c5-xw7c-p5pm): a foreign issuer, a trailing slash, a prefix, a
    partial match, another spelling, an array or no iss at all is refused."""
    iss = watched.issuer
    url = iss.url
    variants: list[Any] = [
        "https://evil.example",
        url + "/",
        url[:-1],
        url + "0",
        url + "/tenant",
        url.replace("127.0.0.1", "localhost"),
        url.replace("http://", "https://"),
        url.upper(),
        [url],
        [url, "https://evil.example"],
        None,
    ]
    header = {"alg": "RS256", "typ": "at+jwt", "kid": iss.kid}
    async with nothing_stored(watched):
        for variant in variants:
            token = iss.raw(header, iss.claims(iss=variant))  # PyJWT would refuse an array
            await refused(watched, token, "the token is from another issuer")
    await accepted(watched, iss.token(iss.claims(iss=url)))


# --- J10: audience --------------------------------------------------------------------------


async def test_J10_audience_must_name_this_api(watched: Api) -> None:
    """RFC 8725 §3.9: aud missing, another API, the client_id, a trailing slash, `[]`,
    `[123]`, `["other"]` are refused; `["other", <api>]` is accepted."""
    iss = watched.issuer
    audience = iss.audience
    variants: list[Any] = [
        None,
        "https://other.api.test",
        "importer",
        audience + "/",
        audience.upper(),
        [],
        [123],
        ["other"],
        [audience + "/"],
        {"aud": audience},
    ]
    async with nothing_stored(watched):
        for variant in variants:
            token = iss.token(iss.claims(aud=variant))
            await refused(watched, token, "the token is for another audience")
    await accepted(watched, iss.token(iss.claims(aud=["other", audience])))


# --- J11: token type and required claims ---------------------------------------------------


async def test_J11_only_at_jwt_access_tokens_with_all_required_claims(watched: Api) -> None:
    """RFC 9068 §2.1-2.2, §4: an id_token from the same issuer and key, typ JWT, dpop+jwt or
    absent, and a token missing sub, client_id, jti or iat are refused; at+jwt and
    application/at+jwt are accepted."""
    iss = watched.issuer
    id_token = iss.token(
        iss.claims(
            sub="alice",
            aud="spa",
            azp="spa",
            nonce="n-1",
            auth_time=0,
            client_id=None,
            scope=None,
            gty=None,
        ),
        headers={"typ": "JWT"},
    )
    async with nothing_stored(watched):
        await refused(watched, id_token, NOT_AT_JWT)
        for typ in ("JWT", "jwt", "dpop+jwt", "application/jwt", "at+jwt ", None, 7):
            await refused(watched, iss.token(headers={"typ": typ}), NOT_AT_JWT)
        for claim in ("sub", "client_id", "jti", "iat"):
            token = iss.token(iss.claims(**{claim: None}))
            await refused(watched, token, f"the {claim} claim is required")
    for typ in ("at+jwt", "application/at+jwt"):
        await accepted(watched, iss.token(headers={"typ": typ}))


# --- J12: crit and b64 -----------------------------------------------------------------------


async def test_J12_crit_and_b64_headers_are_refused(watched: Api) -> None:
    """RFC 7515 §4.1.11 (GHSA-752w-5fwx-jx9f), RFC 7797: crit of any form and b64:false."""
    iss = watched.issuer
    async with nothing_stored(watched):
        for extra, member in (
            ({"crit": ["x-unknown"], "x-unknown": 1}, "crit"),
            ({"crit": []}, "crit"),
            ({"crit": "b64"}, "crit"),
            ({"crit": ["exp"]}, "crit"),
            ({"crit": ["b64"], "b64": False}, "b64"),
            ({"b64": False}, "b64"),
        ):
            token = iss.token(headers=extra)
            await refused(watched, token, f"header member {member} is not accepted")
    await accepted(watched, iss.token())


# --- J13: duplicate members -------------------------------------------------------------------


async def test_J13_duplicate_claims_and_header_members_are_refused(watched: Api) -> None:
    """RFC 7519 §4, RFC 7515 §4: a duplicate member is refused, not resolved to its last
    (or first) value; with last-wins the scope duplicate would grant the write."""
    iss = watched.issuer
    rest = json.dumps(iss.claims(scope=None))[1:]
    header = {"alg": "RS256", "typ": "at+jwt", "kid": iss.kid}
    async with nothing_stored(watched):
        for duplicate, member in (
            ('"scope": "read:timesheets", "scope": "create:timesheets", ', "scope"),
            ('"scope": "create:timesheets", "scope": "read:timesheets", ', "scope"),
            ('"scope": "create:timesheets", "sub": "admin", ', "sub"),
            ('"scope": "create:timesheets", "aud": "other", ', "aud"),
            ('"scope": "create:timesheets", "exp": 1, ', "exp"),
        ):
            payload = ("{" + duplicate + rest).encode()
            await refused(watched, iss.raw(header, payload), f"duplicate member {member}")
        kid = iss.kid
        for raw_header, member in (
            (f'{{"alg":"none","alg":"RS256","typ":"at+jwt","kid":"{kid}"}}', "alg"),
            (f'{{"alg":"RS256","typ":"JWT","typ":"at+jwt","kid":"{kid}"}}', "typ"),
            (f'{{"alg":"RS256","typ":"at+jwt","kid":"x","kid":"{kid}"}}', "kid"),
        ):
            token = iss.raw(raw_header.encode(), iss.claims())
            await refused(watched, token, f"duplicate member {member}")
    await accepted(watched, iss.raw(header, ('{"scope": "create:timesheets", ' + rest).encode()))


# --- J14: size and encoding -------------------------------------------------------------------


def sized_token(iss: Issuer, size: int) -> str:
    """A valid token of exactly `size` characters."""
    base = len(iss.token(iss.claims(pad="", jti="j" * 16)))
    guess = (size - base) * 3 // 4
    for extra in range(4):
        for pad in range(guess - 16, guess + 8):
            token = iss.token(iss.claims(pad="x" * pad, jti="j" * 16), headers={"x": "y" * extra})
            if len(token) == size:
                return token
    raise AssertionError("no token of that size")


async def test_J14_size_and_nesting_limits(watched: Api) -> None:
    """RFC 8725 §3.7: a token of 8 KiB is accepted and one byte more is refused; a validly
    signed 100 KB token and a claim nested 100,000 deep are refused by size, 2,500-deep
    nesting within 8 KiB by the parser (no RecursionError, no 500)."""
    iss = watched.issuer
    header = {"alg": "RS256", "typ": "at+jwt", "kid": iss.kid}
    deep = b"[" * 100_000 + b"]" * 100_000
    nested = b"[" * 2500 + b"]" * 2500
    async with nothing_stored(watched):
        await refused(watched, sized_token(iss, MAX_TOKEN_BYTES + 1), TOO_LARGE)
        await refused(watched, iss.token(iss.claims(pad="x" * 100_000)), TOO_LARGE)
        await refused(watched, iss.raw(header, b'{"x":' + deep + b"}"), TOO_LARGE)
        token = iss.raw(header, b'{"x":' + nested + b"}")
        assert len(token) <= MAX_TOKEN_BYTES
        await refused(watched, token, "the payload is not a JSON object")
        objects = iss.raw(header, b'{"":' * 1100 + b"1" + b"}" * 1100)
        await refused(watched, objects, "the payload is not a JSON object")
    await accepted(watched, sized_token(iss, MAX_TOKEN_BYTES))


async def test_J14_base64url_and_json_encoding(watched: Api) -> None:
    """RFC 7515 §2, §7.1: `=` padding, `+`/`/`, non-canonical trailing bits and UTF-16 or
    BOM-prefixed JSON are refused (401). `=` or whitespace inside the credentials breaks
    the b64token grammar (RFC 6750 §2.1): 400 invalid_request."""
    iss = watched.issuer
    token = iss.token()
    head, body, signature = token.split(".")
    assert len(signature) % 4 == 2  # 256 octets: the last character has 4 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    changed = signature[:-1] + alphabet[alphabet.index(signature[-1]) + 1]
    assert decoded(changed) == decoded(signature)
    standard = next(t for t in (iss.token() for _ in range(50)) if "-" in t or "_" in t)
    header = {"alg": "RS256", "typ": "at+jwt", "kid": iss.kid}
    header_text = json.dumps(header)
    async with nothing_stored(watched):
        await refused(watched, f"{head}.{body}.{signature}==", "malformed base64url")
        await refused(watched, token + "=", "malformed base64url")
        await refused(watched, standard.replace("-", "+").replace("_", "/"), "malformed base64url")
        await refused(watched, f"{head}.{body}.{changed}", "non-canonical base64url")
        for encoding in ("utf-16", "utf-16-le", "utf-32", "utf-8-sig"):
            payload = json.dumps(iss.claims()).encode(encoding)
            await refused(watched, iss.raw(header, payload), "the payload is not a JSON object")
            await refused(
                watched,
                iss.raw(header_text.encode(encoding), iss.claims()),
                "the header is not a JSON object",
            )
        for variant in (
            f"{head}=.{body}.{signature}",
            f"{head}.{body}==.{signature}",
            token[:10] + " " + token[10:],
            token[:10] + "\t" + token[10:],
            token.replace(".", ". ", 1),
        ):
            await refused(watched, variant, ONE_TOKEN, status=400, error="invalid_request")
        nbsp = b"Bearer " + token[:10].encode() + b"\xa0" + token[10:].encode()
        headers = [(b"Authorization", nbsp)]
        response = await watched.http.post("/timesheets", json=SEED, headers=headers)
        assert_bearer_error(response, 400, "invalid_request", ONE_TOKEN)
    await accepted(watched, token)


# --- J15: the keys the API is given -----------------------------------------------------------


async def test_J15_rotation_and_removed_keys(api: Api) -> None:
    """Shipped configuration: after a rotation the new key verifies after one refetch and
    the old one while it is published; a withdrawn key stays cached until the set is
    replaced, by an unknown-kid refetch or by the max-age (300 s) refresh, and is then
    refused."""
    clock = fake_clock(api)
    iss = api.issuer
    cooldown = api.settings.jwks_refetch_seconds
    old = iss.kid
    await accepted(api, iss.token(kid=old))
    new = iss.add_key("rotated-1")
    clock.advance(cooldown)
    await accepted(api, iss.token(kid=new))
    await accepted(api, iss.token(kid=old))
    assert fetches(iss) == [(1, 2)]
    iss.published.discard(old)
    await accepted(api, iss.token(kid=old))  # still cached: the set was not replaced yet
    newest = iss.add_key("rotated-2")
    clock.advance(cooldown)
    await accepted(api, iss.token(kid=newest))
    assert fetches(iss) == [(1, 3)]
    async with nothing_stored(api):
        await refused(api, iss.token(kid=old), UNKNOWN_KEY)
    iss.published.discard(new)
    await accepted(api, iss.token(kid=new))  # still cached until the max age
    clock.advance(api.settings.jwks_max_age_seconds)
    async with nothing_stored(api):
        token = iss.token(kid=new)
        response = await api.http.post("/timesheets", json=SEED, headers=bearer(token))
        assert_bearer_error(response, 401, "invalid_token", UNKNOWN_KEY)
        assert fetches(iss) == [(1, 4)]
        await refused(api, token, UNKNOWN_KEY)
        await refused(api, iss.token(kid=old), UNKNOWN_KEY)
    await accepted(api, iss.token(kid=newest))
    assert fetches(iss) == [(1, 4)]


async def test_J15_weak_and_encryption_keys_are_never_used(
    watched: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A published RSA-1024 key and a `use: enc` key never verify a token (RFC 7518 §3.3,
    RFC 7517 §4.2); each token names a new kid, so the JWKS is refetched once for it."""
    iss = watched.issuer
    iss.keys["weak-1"] = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    iss.published.add("weak-1")
    enc = iss.add_key("enc-1")
    published = iss.jwks

    def with_encryption_key() -> dict[str, Any]:
        document = published()
        for jwk in document["keys"]:
            if jwk["kid"] == enc:
                jwk["use"] = "enc"
        return document

    monkeypatch.setattr(iss, "jwks", with_encryption_key)
    async with nothing_stored(watched):
        for number, kid in enumerate(("weak-1", enc), start=2):
            header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
            token = iss.raw(header, iss.claims(), kid=kid)
            response = await watched.http.post("/timesheets", json=SEED, headers=bearer(token))
            assert_bearer_error(response, 401, "invalid_token", UNKNOWN_KEY)
            assert fetches(iss) == [(1, number)]
    await accepted(watched, iss.token())


# --- B01-B04: bearer transport and scopes --------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One endpoint: method, path, the scope it needs and its success status."""

    method: str
    path: str
    scope: str
    ok: int
    body: Any = None

    async def send(self, running: Api, headers: dict[str, Any], **options: Any) -> httpx.Response:
        """The request, with a JSON body where the endpoint takes one."""
        if self.body is not None and "data" not in options:
            options["json"] = self.body
        return await running.http.request(self.method, self.path, headers=headers, **options)


def endpoints(entry: str, doomed: str | None = None) -> list[Call]:
    """Every endpoint (on `entry`; DELETE on `doomed` when given)."""
    return [
        Call("POST", "/timesheets", "create:timesheets", 201, SEED),
        Call("POST", "/timesheet", "create:timesheets", 201, SEED),
        Call("GET", "/timesheets", "read:timesheets", 200),
        Call("GET", f"/timesheets/{entry}", "read:timesheets", 200),
        Call("DELETE", f"/timesheets/{doomed or entry}", "delete:timesheets", 204),
        Call("GET", f"/timesheets/{entry}/audit", "approve:timesheets", 200),
        Call("GET", "/approvals", "approve:timesheets", 200),
        Call("PUT", f"/approvals/{entry}", "approve:timesheets", 200),
        Call("POST", "/timesheets/upload", "batch:upload", 201, UPLOAD),
    ]


async def new_entry(running: Api, user_id: str = "u1") -> str:
    """The id of a new submitted entry of `user_id`."""
    body = SEED | {"user_id": user_id}
    response = await running.http.post("/timesheets", json=body, headers=running.auth())
    assert response.status_code == 201, response.text
    entry_id: str = response.json()["id"]
    return entry_id


async def status_of(running: Api, entry_id: str) -> str:
    """The entry's status, read with a valid token."""
    response = await running.http.get(f"/timesheets/{entry_id}", headers=running.auth())
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def test_B01_no_credentials_and_malformed_bearer_headers(api: Api) -> None:
    """RFC 6750 §3.1 on every endpoint: no Authorization header, Basic, or another scheme
    (even around a valid token) → 401 with a bare challenge; `Bearer` without a token or
    with two → 400 invalid_request."""
    entry = await new_entry(api)
    token = api.issuer.token()
    async with nothing_stored(api):
        for call in endpoints(entry):
            assert_no_credentials(await call.send(api, {}))
            for value in (
                "Basic dXNlcjpwYXNzd29yZA==",
                f"Basic {token}",
                f"Token {token}",
                f"DPoP {token}",
                f"Bearerx {token}",
                token,
            ):
                assert_no_credentials(await call.send(api, {"Authorization": value}))
            for value in ("Bearer", f"Bearer {token} {token}", "Bearer a b", "Bearer a,b"):
                response = await call.send(api, {"Authorization": value})
                assert_bearer_error(response, 400, "invalid_request", ONE_TOKEN)
    assert await status_of(api, entry) == "submitted"
    assert api.issuer.jwks_fetches == 1  # the two valid reads above; nothing else


async def test_B02_the_scheme_is_case_insensitive(api: Api) -> None:
    """RFC 9110 §11.1: `bearer`, `BEARER` and `BeArEr` are the Bearer scheme."""
    for scheme in ("bearer", "BEARER", "BeArEr"):
        header = {"Authorization": f"{scheme} {api.issuer.token()}"}
        before = await api.row_counts()
        response = await api.http.post("/timesheets", json=SEED, headers=header)
        assert response.status_code == 201, response.text
        assert (await api.row_counts())["entries"] == before["entries"] + 1
        response = await api.http.get("/timesheets", headers=header)
        assert response.status_code == 200, response.text


async def test_B03_a_token_sent_two_ways_is_invalid_request(api: Api) -> None:
    """RFC 6750 §2.2-2.3, §3.1: the header plus `access_token` in the query or in a form
    body → 400 invalid_request on every endpoint, those that ignore their body included
    (tests/api/routers/test_form_token.py: large and chunked forms); a token only in the
    query or body counts as absent (401, bare challenge)."""
    entry = await new_entry(api)
    token = api.issuer.token()
    form = {"access_token": token}
    async with nothing_stored(api):
        for call in endpoints(entry):
            query = {"access_token": token}
            response = await call.send(api, bearer(token), params=query)
            assert_bearer_error(response, 400, "invalid_request", HEADER_ONLY)
            assert_no_credentials(await call.send(api, {}, params=query))
        for call in endpoints(entry):
            response = await call.send(api, bearer(token), data=form)
            assert_bearer_error(response, 400, "invalid_request", HEADER_ONLY)
            assert_no_credentials(await call.send(api, {}, data=form))
    assert await status_of(api, entry) == "submitted"


async def test_B04_each_endpoint_refuses_every_other_scope(api: Api) -> None:
    """RFC 6750 §3.1, RFC 9068 §2.2.3: each endpoint with all the other scopes → 403
    insufficient_scope naming the scope it needs, nothing stored; with exactly its own
    scope it succeeds."""
    entry, doomed = await new_entry(api), await new_entry(api, "u2")
    all_scopes = ALL_SCOPES.split()
    async with nothing_stored(api):
        for call in endpoints(entry):
            others = " ".join(s for s in all_scopes if s != call.scope)
            token = api.issuer.token(api.issuer.claims(scope=others))
            response = await call.send(api, bearer(token))
            description = f"the {call.scope} scope is required"
            assert_bearer_error(response, 403, "insufficient_scope", description, call.scope)
    assert await status_of(api, entry) == "submitted"
    for call in endpoints(entry, doomed):
        token = api.issuer.token(api.issuer.claims(scope=call.scope))
        response = await call.send(api, bearer(token))
        assert response.status_code == call.ok, f"{call.method} {call.path}: {response.text}"
    assert await status_of(api, entry) == "approved"


async def test_B04_scope_lookalikes_are_not_granted(api: Api) -> None:
    """Only the exact, space-delimited `scope` string grants: a longer or upper-case name,
    comma- or tab-joined scopes, a wildcard and an `scp` claim do not."""
    iss = api.issuer
    assert (await api.http.get("/timesheets", headers=api.auth())).status_code == 200
    lookalikes: list[dict[str, Any]] = [
        {"scope": "create:timesheets:x"},
        {"scope": "CREATE:TIMESHEETS"},
        {"scope": "Create:timesheets"},
        {"scope": "read:timesheets,create:timesheets"},
        {"scope": "read:timesheets;create:timesheets"},
        {"scope": "read:timesheets\tcreate:timesheets"},
        {"scope": "create:*"},
        {"scope": "*"},
        {"scope": "create"},
        {"scope": ""},
        {"scope": None, "scp": "create:timesheets"},
        {"scope": None, "scp": ["create:timesheets"]},
        {"scope": None},
    ]
    async with nothing_stored(api):
        for claims in lookalikes:
            token = iss.token(iss.claims(**claims))
            await refused(
                api,
                token,
                "the create:timesheets scope is required",
                status=403,
                error="insufficient_scope",
                scope="create:timesheets",
            )
        token = iss.token(iss.claims(scope=["create:timesheets"]))
        await refused(api, token, "the scope claim must be a string")
    await accepted(api, iss.token(iss.claims(scope="read:timesheets create:timesheets")))


# --- B05: revocation ---------------------------------------------------------------------


async def test_B05_a_person_token_stops_working_when_its_lifetime_ends(serve: Serve) -> None:
    """Mechanism checked: short-lived access tokens (docs/security.md: the API verifies
    locally, so a revoked grant's access token works until its exp and not after). With
    no leeway, a person's token is accepted before exp and refused from exp on."""
    running = await serve(leeway_seconds=0)
    iss = running.issuer
    expires = time.time() + 1.0  # a NumericDate may be fractional (RFC 7519 §2)
    token = iss.person("alice", "create:timesheets", iat=int(expires) - 60, exp=expires)
    response = await running.http.post("/timesheets", json=PERSON_ENTRY, headers=bearer(token))
    assert response.status_code == 201, response.text
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.05)
    async with nothing_stored(running):
        response = await running.http.post("/timesheets", json=PERSON_ENTRY, headers=bearer(token))
        assert_bearer_error(response, 401, "invalid_token", "the token has expired")


async def test_B05_the_documented_window_is_the_lifetime_plus_the_leeway(api: Api) -> None:
    """Mechanism checked: the documented window (people's tokens live at most 15 minutes)
    is enforced only through exp; the shipped API allows 30 s of clock skew after it, and
    refuses a 15-minute token past that."""
    iss = api.issuer
    now = int(time.time())
    late = iss.person("alice", "create:timesheets", iat=now - 900 - 45, exp=now - 45)
    async with nothing_stored(api):
        response = await api.http.post("/timesheets", json=PERSON_ENTRY, headers=bearer(late))
        assert_bearer_error(response, 401, "invalid_token", "the token has expired")
    within = iss.person("alice", "create:timesheets", iat=now - 900 - 15, exp=now - 15)
    response = await api.http.post("/timesheets", json=PERSON_ENTRY, headers=bearer(within))
    assert response.status_code == 201, response.text


async def test_B05_a_withdrawn_signing_key_is_refused_after_the_jwks_refresh(
    serve: Serve,
) -> None:
    """Mechanism checked: the API's key-set refresh (it replaces the whole set, so a key
    withdrawn from the JWKS stops verifying once the cached set is older than
    `jwks_max_age_seconds`; real clock, 1 s here)."""
    running = await serve(jwks_max_age_seconds=1, jwks_refetch_seconds=1)
    iss = running.issuer
    withdrawn = iss.add_key("withdrawn-1")
    token = iss.token(kid=withdrawn)
    response = await running.http.post("/timesheets", json=SEED, headers=bearer(token))
    assert response.status_code == 201, response.text
    fetched = time.monotonic()
    iss.published.discard(withdrawn)
    response = await running.http.post("/timesheets", json=SEED, headers=bearer(token))
    assert response.status_code == 201, "the cached set is still fresh"
    assert time.monotonic() - fetched < 1
    await asyncio.sleep(1.1)
    async with nothing_stored(running):
        response = await running.http.post(
            "/timesheets", json=SEED, headers=bearer(iss.token(kid=withdrawn))
        )
        assert_bearer_error(response, 401, "invalid_token", UNKNOWN_KEY)
    assert fetches(iss) == [(1, 2)]
    await accepted(running, iss.token())
