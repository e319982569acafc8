"""TokenVerifier against the JWT security catalogue (J01-J15).

Every test goes through `TokenVerifier.verify` with keys from a real loopback issuer
(discovery + JWKS, with fetch counters), so each attack is refused by the whole pipeline:
parse (RFC 7515 §5.2) → typ (RFC 9068 §4) → key → signature → claims (RFC 9068 §4,
RFC 8725 §3). The JWKS cache runs on a fake clock: "zero extra fetches" is exact.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import RSAAlgorithm

from tests.bearer.conftest import (
    EC_KID,
    RSA_KID,
    SPARE_KIDS,
    TLS,
    FakeClock,
    MakeSetup,
    Setup,
    b64url,
    build_setup,
    forge,
    hs256,
    publish,
    segment,
)
from tests.issuer import TestIssuer as Issuer
from timesheets.bearer import verifier as verifier_module
from timesheets.bearer.claims import ClaimRules
from timesheets.bearer.errors import InvalidToken
from timesheets.bearer.jwks import KeysUnavailable
from timesheets.bearer.jws import MAX_TOKEN_BYTES
from timesheets.bearer.keys import MAX_CANDIDATES, VerificationKey
from timesheets.bearer.transport import token_from_request
from timesheets.bearer.verifier import StaticKeys, TokenVerifier

NOW = 1_900_000_000
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SECRET = b"0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
async def module_http() -> AsyncIterator[httpx.AsyncClient]:
    """One HTTP client for the module's shared verifiers."""
    async with httpx.AsyncClient(timeout=5, verify=TLS) as client:
        yield client


@pytest.fixture(scope="module")
async def setup(shared_issuer: Issuer, module_http: httpx.AsyncClient) -> Setup:
    """An RS256 verifier of the shared issuer, keys cached, its cache clock never moved.

    Shared by the tests of this module that do not move the clock: every refusal is
    checked to cause no fetch, so one test cannot hide another's fetches.
    """
    loaded = build_setup(shared_issuer, module_http, FakeClock())
    await loaded.load()
    assert loaded.cache.fetches == 1
    return loaded


@pytest.fixture
async def fresh(shared_issuer: Issuer, make_setup: MakeSetup) -> Setup:
    """An RS256 verifier of the shared issuer with its own clock, for tests that move it."""
    loaded = make_setup(shared_issuer)
    await loaded.load()
    return loaded


@pytest.fixture(scope="module")
async def es_setup(shared_issuer: Issuer, module_http: httpx.AsyncClient) -> Setup:
    """An ES256-only verifier of the shared issuer with its keys cached."""
    loaded = build_setup(shared_issuer, module_http, FakeClock(), algorithms=frozenset({"ES256"}))
    await loaded.verifier.verify(es_token(shared_issuer))
    return loaded


@pytest.fixture(scope="module")
async def fixed_time(shared_issuer: Issuer, module_http: httpx.AsyncClient) -> Setup:
    """A verifier whose wall clock is NOW, keys cached."""
    loaded = build_setup(shared_issuer, module_http, FakeClock(), now=lambda: NOW)
    await loaded.verifier.verify(shared_issuer.token(at(shared_issuer)))
    return loaded


def at(issuer: Issuer, **overrides: Any) -> dict[str, Any]:
    """Claims valid at NOW."""
    return issuer.claims(**({"iat": NOW, "exp": NOW + 600} | overrides))


def es_token(issuer: Issuer, claims: dict[str, Any] | None = None) -> str:
    """A valid ES256 token from the issuer's P-256 key."""
    return issuer.token(claims, kid=EC_KID, alg="ES256")


async def refused(setup: Setup, token: str, fragment: str = "") -> InvalidToken:
    """Assert verify refuses with InvalidToken, without fetching keys again."""
    before = setup.fetches()
    with pytest.raises(InvalidToken) as caught:
        await setup.verifier.verify(token)
    assert type(caught.value) is InvalidToken
    assert caught.value.error == "invalid_token"
    assert caught.value.status_code == 401
    assert fragment in caught.value.description, caught.value.description
    assert setup.fetches() == before, "a refused token must not cause a JWKS fetch here"
    return caught.value


def tamper(token: str, header: dict[str, Any] | None = None, payload: Any = None) -> str:
    """Replace header and/or payload but keep the (now wrong) signature."""
    head, body, sig = token.split(".")
    return ".".join(
        [
            segment(header) if header is not None else head,
            segment(payload) if payload is not None else body,
            sig,
        ]
    )


# --- the happy path --------------------------------------------------------------------


async def test_a_valid_machine_token_verifies(setup: Setup, shared_issuer: Issuer) -> None:
    """RFC 9068 §4: a correctly signed at+jwt for this API gives the caller."""
    principal = await setup.verifier.verify(shared_issuer.token())
    assert principal.subject == "importer@clients"
    assert principal.client_id == "importer"
    assert "read:timesheets" in principal.scopes
    assert principal.is_machine
    assert setup.cache.fetches == 1


async def test_a_person_token_verifies(setup: Setup, shared_issuer: Issuer) -> None:
    """A user's token: not a machine, only its scopes."""
    principal = await setup.verifier.verify(shared_issuer.person("alice", "read:timesheets"))
    assert principal.subject == "alice"
    assert principal.scopes == frozenset({"read:timesheets"})
    assert not principal.is_machine


async def test_a_token_without_kid_uses_the_only_fitting_key(
    setup: Setup, shared_issuer: Issuer
) -> None:
    """RFC 7515 §4.1.4: kid is optional when the key is unambiguous."""
    token = shared_issuer.raw({"alg": "RS256", "typ": "at+jwt"}, shared_issuer.claims())
    assert (await setup.verifier.verify(token)).subject == "importer@clients"


async def test_a_valid_es256_token_verifies(es_setup: Setup, shared_issuer: Issuer) -> None:
    """Positive control for J04: a genuine ES256 signature verifies."""
    assert (await es_setup.verifier.verify(es_token(shared_issuer))).client_id == "importer"


async def test_the_token_from_the_transport_verifies(setup: Setup, shared_issuer: Issuer) -> None:
    """RFC 6750 §2.1 end to end: header → token → principal."""
    token = token_from_request(f"Bearer {shared_issuer.token()}", "")
    assert (await setup.verifier.verify(token)).client_id == "importer"


def segment_bytes(token: str, index: int) -> bytes:
    """The decoded bytes of one segment."""
    part = token.split(".")[index]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# --- J01: alg none ---------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_J01_none_in_the_allow_list_is_refused_at_construction(alg: str) -> None:
    """RFC 8725 §3.2: `none` must never be accepted; misconfiguration fails fast."""
    with pytest.raises(ValueError, match="none"):
        TokenVerifier(ClaimRules("i", "a"), frozenset({"RS256", alg}), StaticKeys())


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_J01_alg_none_tokens_are_refused(
    setup: Setup, shared_issuer: Issuer, alg: str
) -> None:
    """RFC 7518 §3.6 unsecured JWS: refused with or without a signature segment."""
    header = {"alg": alg, "typ": "at+jwt", "kid": RSA_KID}
    await refused(setup, forge(header, shared_issuer.claims(), b""), "unsigned")
    await refused(setup, forge(header, shared_issuer.claims(), b"x"), "algorithm")
    valid = shared_issuer.token()
    await refused(setup, tamper(valid, header), "algorithm")


async def test_J01_empty_signature_is_refused(setup: Setup, shared_issuer: Issuer) -> None:
    """An RS256 header with an empty signature is an unsigned token."""
    head, body, _ = shared_issuer.token().split(".")
    await refused(setup, f"{head}.{body}.", "unsigned")


# --- J02: malformed signatures and structure -------------------------------------------


async def test_J02_header_payload_dot_is_refused(setup: Setup, shared_issuer: Issuer) -> None:
    """`h.p.` (signature stripped) is refused."""
    token = shared_issuer.token()
    await refused(setup, token[: token.rindex(".") + 1], "unsigned")


async def test_J02_truncated_signature_is_refused(setup: Setup, shared_issuer: Issuer) -> None:
    """A signature shortened by bytes or by characters does not verify."""
    head, body, sig = shared_issuer.token().split(".")
    raw = segment_bytes(f"x.x.{sig}", 2)
    await refused(setup, f"{head}.{body}.{b64url(raw[:-1])}", "signature is invalid")
    await refused(setup, f"{head}.{body}.{b64url(raw[:128])}", "signature is invalid")
    await refused(setup, f"{head}.{body}.{sig[:-4]}")


async def test_J02_der_encoded_ecdsa_signature_is_refused(
    es_setup: Setup, shared_issuer: Issuer, key_pool: dict[str, Any]
) -> None:
    """RFC 7518 §3.4: ES256 is R || S (64 octets); a DER signature must not verify."""
    signing_input = es_token(shared_issuer).rsplit(".", 1)[0]
    private = key_pool[EC_KID]
    der = private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    await refused(es_setup, f"{signing_input}.{b64url(der)}", "signature is invalid")
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    principal = await es_setup.verifier.verify(f"{signing_input}.{b64url(raw)}")
    assert principal.client_id == "importer"


@pytest.mark.parametrize("count", [2, 5])
async def test_J02_wrong_segment_count_is_refused(
    setup: Setup, shared_issuer: Issuer, count: int
) -> None:
    """RFC 7515 §7.1: three segments; five is a JWE (RFC 7516 §7.1)."""
    parts = shared_issuer.token().split(".")
    token = ".".join(parts[:2]) if count == 2 else ".".join([*parts, "AAAA", "AAAA"])
    await refused(setup, token, "not a compact JWS")


@pytest.mark.parametrize("payload", [b"[]", b'"importer"', b"42", b"null", b"true"])
async def test_J02_non_object_payload_is_refused(
    setup: Setup, shared_issuer: Issuer, payload: bytes
) -> None:
    """RFC 7519 §7.2: the claims set is a JSON object, even when properly signed."""
    header = {"alg": "RS256", "typ": "at+jwt", "kid": RSA_KID}
    await refused(setup, shared_issuer.raw(header, payload), "payload is not a JSON object")


# --- J03: algorithm confusion ------------------------------------------------------------


def public_secrets(issuer: Issuer) -> dict[str, bytes]:
    """What an attacker might use as an HMAC secret: the public key in various forms."""
    public = issuer.keys[RSA_KID].public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    n = public.public_numbers().n
    return {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "pkcs1": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "raw-n": n.to_bytes((n.bit_length() + 7) // 8, "big"),
        "jwk": RSAAlgorithm.to_jwk(public).encode(),
        "blank": b"",
    }


@pytest.mark.parametrize("form", ["pem", "pkcs1", "der", "raw-n", "jwk", "blank"])
async def test_J03_hs256_with_the_public_key_is_refused(
    setup: Setup, shared_issuer: Issuer, form: str
) -> None:
    """RFC 8725 §3.1: with {RS256} configured, an HS256 token is refused outright."""
    header = {"alg": "HS256", "typ": "at+jwt", "kid": RSA_KID}
    token = hs256(header, shared_issuer.claims(), public_secrets(shared_issuer)[form])
    await refused(setup, token, "algorithm is not accepted")


@pytest.mark.parametrize("form", ["pem", "raw-n", "blank"])
async def test_J03_jwks_keys_never_verify_hs256_even_if_enabled(
    shared_issuer: Issuer, make_setup: MakeSetup, form: str
) -> None:
    """RFC 8725 §2.1: a JWKS RSA key is never used as an HMAC secret."""
    mixed = make_setup(shared_issuer, algorithms=frozenset({"RS256", "HS256"}))
    await mixed.load()
    header = {"alg": "HS256", "typ": "at+jwt", "kid": RSA_KID}
    token = hs256(header, shared_issuer.claims(), public_secrets(shared_issuer)[form])
    await refused(mixed, token, "unknown key")
    kidless = hs256({"alg": "HS256", "typ": "at+jwt"}, shared_issuer.claims(), b"")
    await refused(mixed, kidless, "unknown key")


@pytest.mark.parametrize("alg", ["rs256", "Rs256", "RS256 ", "RS384", "RS512", "PS256"])
async def test_J03_alg_variants_are_refused(setup: Setup, shared_issuer: Issuer, alg: str) -> None:
    """RFC 8725 §3.1: exact match against the allow-list; PS256 is off unless enabled."""
    valid = shared_issuer.token()
    header = {"alg": alg, "typ": "at+jwt", "kid": RSA_KID}
    await refused(setup, tamper(valid, header), "algorithm is not accepted")


async def test_J03_real_ps256_signature_is_refused_when_not_enabled(
    setup: Setup, shared_issuer: Issuer
) -> None:
    """A correctly PS256-signed token from the real key is refused under {RS256}."""
    token = shared_issuer.token(alg="PS256")
    await refused(setup, token, "algorithm is not accepted")


async def test_J03_hs256_with_a_wrong_or_blank_secret_is_refused(shared_issuer: Issuer) -> None:
    """An HS256 API verifies only its configured secret."""
    verifier = TokenVerifier(
        ClaimRules(shared_issuer.url, shared_issuer.audience),
        frozenset({"HS256"}),
        StaticKeys(VerificationKey(None, "HS256", SECRET)),
    )
    header = {"alg": "HS256", "typ": "at+jwt"}
    claims = shared_issuer.claims()
    assert (await verifier.verify(hs256(header, claims, SECRET))).client_id == "importer"
    for secret in (b"", SECRET[:-1], SECRET + b"x", b"0" * 32):
        with pytest.raises(InvalidToken, match="signature is invalid"):
            await verifier.verify(hs256(header, claims, secret))
    with pytest.raises(InvalidToken, match="algorithm is not accepted"):
        await verifier.verify(shared_issuer.token())


async def test_J03_static_key_kid_must_match(shared_issuer: Issuer) -> None:
    """A configured key with a kid is used only for tokens naming that kid (or none)."""
    verifier = TokenVerifier(
        ClaimRules(shared_issuer.url, shared_issuer.audience),
        frozenset({"HS256"}),
        StaticKeys(VerificationKey("k1", "HS256", SECRET)),
    )
    claims = shared_issuer.claims()
    await verifier.verify(hs256({"alg": "HS256", "typ": "at+jwt", "kid": "k1"}, claims, SECRET))
    await verifier.verify(hs256({"alg": "HS256", "typ": "at+jwt"}, claims, SECRET))
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.verify(hs256({"alg": "HS256", "typ": "at+jwt", "kid": "k2"}, claims, SECRET))


# --- J04: ECDSA psychic signatures -------------------------------------------------------


@pytest.mark.parametrize(
    ("r", "s"),
    [(0, 0), (P256_ORDER, P256_ORDER), (0, 1), (1, 0), (P256_ORDER, 1), (1, P256_ORDER)],
    ids=["r=s=0", "r=s=n", "r=0", "s=0", "r=n", "s=n"],
)
async def test_J04_ecdsa_out_of_range_signatures_are_refused(
    es_setup: Setup, shared_issuer: Issuer, r: int, s: int
) -> None:
    """CVE-2022-21449: r and s must be in [1, n-1]; zero or n never verifies."""
    signing_input = es_token(shared_issuer).rsplit(".", 1)[0]
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    await refused(es_setup, f"{signing_input}.{b64url(signature)}", "signature is invalid")


# --- J05: hostile kids -------------------------------------------------------------------

HOSTILE_KIDS = [
    "../../../../dev/null",
    "' OR '1'='1",
    "1 UNION SELECT key FROM keys--",
    "|sleep 10",
    "$(sleep 10)",
    123,
    "A" * 1_000_000,
    'a"b',
    "a\r\nSet-Cookie: x=1",
    "",
    ["rsa-1"],
]


@pytest.mark.parametrize("kid", HOSTILE_KIDS, ids=lambda k: repr(k)[:24])
async def test_J05_hostile_kids_are_refused_without_fetching(
    setup: Setup, shared_issuer: Issuer, kid: Any
) -> None:
    """RFC 8725 §3.10: kid is untrusted; it is never a path, query or command."""
    header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
    await refused(setup, shared_issuer.raw(header, shared_issuer.claims()))


@pytest.mark.parametrize(
    "kid",
    ["' OR '1'='1", "|sleep 10", 123, 'a"b', "a\r\nb", "A" * 129, ["x"]],
    ids=lambda k: repr(k)[:24],
)
async def test_J05_malformed_kids_never_reach_the_key_cache(
    fresh: Setup, shared_issuer: Issuer, kid: Any
) -> None:
    """Even with the refetch cooldown elapsed, a malformed kid causes no fetch."""
    fresh.clock.advance(3600)
    header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
    exc = await refused(fresh, shared_issuer.raw(header, shared_issuer.claims()), "malformed kid")
    assert '"' not in exc.description


async def test_J05_one_megabyte_kid_is_refused_by_size(fresh: Setup, shared_issuer: Issuer) -> None:
    """A 1 MB kid makes the token far larger than 8 KiB."""
    fresh.clock.advance(3600)
    await refused(fresh, shared_issuer.token(headers={"kid": "A" * 1_000_000}), "too large")


# --- J06: keys named by the token ------------------------------------------------------


@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c"])
async def test_J06_token_supplied_keys_are_refused_without_fetching(
    fresh: Setup, shared_issuer: Issuer, member: str, key_pool: dict[str, Any]
) -> None:
    """RFC 8725 §3.10 / RFC 7515 §4.1.2-4.1.6: never use or fetch a key the token names."""
    attacker = key_pool["rsa-3"]  # a key the issuer never published
    values: dict[str, Any] = {
        "jwk": RSAAlgorithm.to_jwk(attacker.public_key(), as_dict=True),
        "jku": f"{shared_issuer.url}/jwks",
        "x5u": f"{shared_issuer.url}/jwks",
        "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
    }
    fresh.clock.advance(3600)  # the cooldown would allow a fetch; none may happen
    header = {"alg": "RS256", "typ": "at+jwt", "kid": "attacker", member: values[member]}
    payload = segment(shared_issuer.claims())
    signing_input = f"{segment(header)}.{payload}".encode()
    signature = jwt.get_algorithm_by_name("RS256").sign(signing_input, attacker)
    token = f"{signing_input.decode()}.{b64url(signature)}"
    await refused(fresh, token, f"header member {member}")
    # Also with our own kid and a genuine signature: the member alone is enough.
    await refused(fresh, shared_issuer.token(headers={member: values[member]}), member)


# --- J07: kid floods and rotation --------------------------------------------------------


async def test_J07_a_thousand_unknown_kids_cause_at_most_one_refetch(
    issuer: Issuer, make_setup: MakeSetup
) -> None:
    """Unknown kids refetch at most once per cooldown (DoS on the issuer bounded)."""
    setup = make_setup(issuer, refetch_cooldown=10)
    await setup.load()
    assert setup.fetches() == (1, 1)
    template = issuer.token()
    for _ in range(1000):
        header = {"alg": "RS256", "typ": "at+jwt", "kid": secrets.token_urlsafe(12)}
        with pytest.raises(InvalidToken, match="unknown key"):
            await setup.verifier.verify(tamper(template, header))
    assert setup.fetches() == (1, 1)  # all within the cooldown after the first load
    setup.clock.advance(10)
    for _ in range(1000):
        header = {"alg": "RS256", "typ": "at+jwt", "kid": secrets.token_urlsafe(12)}
        with pytest.raises(InvalidToken, match="unknown key"):
            await setup.verifier.verify(tamper(template, header))
    assert setup.fetches() == (1, 2)


async def test_J07_a_new_published_kid_validates_after_one_refetch(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any]
) -> None:
    """Key rotation: a genuinely new kid is fetched once and then verifies."""
    setup = make_setup(issuer, refetch_cooldown=10)
    await setup.load()
    new_kid = publish(issuer, key_pool, "rsa-2")
    token = issuer.token(kid=new_kid)
    setup.clock.advance(10)
    assert (await setup.verifier.verify(token)).client_id == "importer"
    assert setup.fetches() == (1, 2)
    assert (await setup.verifier.verify(issuer.token(kid=new_kid))).client_id == "importer"
    assert setup.fetches() == (1, 2)


async def test_J07_a_flood_delays_a_new_kid_only_until_the_cooldown_ends(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any]
) -> None:
    """After a flood used the refetch, a new kid waits at most one cooldown."""
    setup = make_setup(issuer, refetch_cooldown=10)
    await setup.load()
    setup.clock.advance(10)
    template = issuer.token()
    for _ in range(100):
        header = {"alg": "RS256", "typ": "at+jwt", "kid": secrets.token_urlsafe(12)}
        with pytest.raises(InvalidToken):
            await setup.verifier.verify(tamper(template, header))
    assert setup.fetches() == (1, 2)
    new_kid = publish(issuer, key_pool, "rsa-2")
    with pytest.raises(InvalidToken, match="unknown key"):
        await setup.verifier.verify(issuer.token(kid=new_kid))
    setup.clock.advance(10)
    assert (await setup.verifier.verify(issuer.token(kid=new_kid))).subject
    assert setup.fetches() == (1, 3)


# --- J08: time claims (RFC 7519 §4.1.4-4.1.6) -------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"iat": NOW - 700, "exp": NOW - 100}, "expired"),
        ({"iat": NOW - 630, "exp": NOW - 30}, "expired"),
        ({"iat": NOW + 31, "exp": NOW + 600}, "issued in the future"),
        ({"iat": NOW + 3600, "exp": NOW + 4000}, "issued in the future"),
        ({"nbf": NOW + 31}, "not valid yet"),
        ({"iat": NOW, "exp": NOW + 86401}, "longer than allowed"),
        ({"iat": NOW - 86400 * 365, "exp": NOW + 600}, "longer than allowed"),
        ({"exp": None}, "exp claim is required"),
        ({"iat": None}, "iat claim is required"),
        ({"exp": str(NOW + 600)}, "not a NumericDate"),
        ({"iat": str(NOW)}, "not a NumericDate"),
        ({"nbf": str(NOW)}, "not a NumericDate"),
        ({"exp": True}, "not a NumericDate"),
        ({"exp": [NOW + 600]}, "not a NumericDate"),
    ],
)
async def test_J08_time_claims_are_enforced(
    fixed_time: Setup, shared_issuer: Issuer, overrides: dict[str, Any], fragment: str
) -> None:
    """RFC 7519 §4.1.4-4.1.6 and RFC 9068 §2.2 with a 30 s leeway."""
    await refused(fixed_time, shared_issuer.token(at(shared_issuer, **overrides)), fragment)


async def test_J08_leeway_boundaries(fixed_time: Setup, shared_issuer: Issuer) -> None:
    """Exactly at the leeway the token is still accepted."""
    for overrides in (
        {"iat": NOW - 600, "exp": NOW - 29},
        {"iat": NOW + 30, "exp": NOW + 600},
        {"nbf": NOW + 30},
    ):
        token = shared_issuer.token(at(shared_issuer, **overrides))
        assert (await fixed_time.verifier.verify(token)).subject


@pytest.mark.parametrize(
    "literal",
    [b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity", b"1" + b"0" * 400],
    ids=["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "10**400"],
)
@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
async def test_J08_non_finite_numeric_dates_are_refused(
    fixed_time: Setup, shared_issuer: Issuer, name: str, literal: bytes
) -> None:
    """RFC 7519 §2: a NumericDate is a finite JSON number; a validly signed token with
    `1e400` (→ inf), NaN, Infinity or a 400-digit integer is an InvalidToken (never a 500)."""
    claims = at(shared_issuer)
    claims[name] = "__VALUE__"
    payload = json.dumps(claims).encode().replace(b'"__VALUE__"', literal)
    header = {"alg": "RS256", "typ": "at+jwt", "kid": RSA_KID}
    await refused(fixed_time, shared_issuer.raw(header, payload))


# --- J09: issuer -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        lambda u: u + "/",
        lambda u: u + "/evil",
        lambda u: u[:-1],
        lambda u: u.replace("127.0.0.1", "localhost"),
        lambda u: u.replace("http://", "https://"),
        lambda u: u.upper(),
        lambda u: [u],
        lambda u: None,
    ],
    ids=["trailing-slash", "suffix", "prefix", "other-host", "scheme", "case", "array", "absent"],
)
async def test_J09_issuer_variants_are_refused(
    setup: Setup, shared_issuer: Issuer, variant: Any
) -> None:
    """RFC 9068 §4: iss MUST exactly match the configured issuer."""
    header = {"alg": "RS256", "typ": "at+jwt", "kid": RSA_KID}
    token = shared_issuer.raw(header, shared_issuer.claims(iss=variant(shared_issuer.url)))
    await refused(setup, token, "another issuer")


# --- J10: audience ---------------------------------------------------------------------


async def test_J10_audience_list_containing_ours_is_accepted(
    setup: Setup, shared_issuer: Issuer
) -> None:
    """RFC 7519 §4.1.3: aud may be an array that includes this API."""
    token = shared_issuer.token(shared_issuer.claims(aud=["other", shared_issuer.audience]))
    assert (await setup.verifier.verify(token)).client_id == "importer"


@pytest.mark.parametrize(
    "variant",
    [
        lambda a: "other",
        lambda a: ["other"],
        lambda a: [],
        lambda a: [123],
        lambda a: [a, 123],
        lambda a: a + "/",
        lambda a: [a + "/"],
        lambda a: a.upper(),
        lambda a: {"aud": a},
        lambda a: None,
    ],
    ids=[
        "other",
        "other-list",
        "empty",
        "number",
        "mixed",
        "slash",
        "slash-list",
        "case",
        "object",
        "absent",
    ],
)
async def test_J10_other_audiences_are_refused(
    setup: Setup, shared_issuer: Issuer, variant: Any
) -> None:
    """RFC 9068 §4 / RFC 8725 §3.9: a token for another audience is refused."""
    token = shared_issuer.token(shared_issuer.claims(aud=variant(shared_issuer.audience)))
    await refused(setup, token, "another audience")


# --- J11: token type and required claims -------------------------------------------------


@pytest.mark.parametrize("typ", ["JWT", "jwt", "dpop+jwt", "application/jwt", None, 7])
async def test_J11_other_token_types_are_refused(
    setup: Setup, shared_issuer: Issuer, typ: Any
) -> None:
    """RFC 9068 §4 / RFC 8725 §3.11: only `at+jwt` (explicit typing)."""
    token = shared_issuer.token(headers={"typ": typ})
    await refused(setup, token, "typ")


async def test_J11_typ_is_checked_before_any_key_lookup(
    fresh: Setup, shared_issuer: Issuer
) -> None:
    """A wrong typ with an unknown kid is refused without a refetch."""
    fresh.clock.advance(3600)
    token = shared_issuer.token(headers={"typ": "JWT", "kid": "unknown-kid"})
    await refused(fresh, token, "typ")


async def test_J11_id_token_is_refused(
    shared_issuer: Issuer, setup: Setup, make_setup: MakeSetup
) -> None:
    """An OIDC ID token (typ JWT, aud = client, no scope) is not an access token."""
    id_token = shared_issuer.token(
        shared_issuer.claims(
            sub="alice", aud="spa", azp="spa", nonce="n-1", auth_time=0, scope=None, gty=None
        ),
        headers={"typ": "JWT"},
    )
    await refused(setup, id_token, "typ")
    lenient = make_setup(shared_issuer, accept_jwt_typ=True)
    await lenient.load()
    await refused(lenient, id_token, "another audience")


@pytest.mark.parametrize("claim", ["sub", "client_id", "jti", "iat", "exp"])
async def test_J11_required_claims_are_enforced(
    setup: Setup, shared_issuer: Issuer, claim: str
) -> None:
    """RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat and jti are REQUIRED."""
    await refused(setup, shared_issuer.token(shared_issuer.claims(**{claim: None})), claim)


# --- J12: crit and b64 -----------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["x-unknown"], "x-unknown": 1},
        {"crit": []},
        {"crit": "b64"},
        {"crit": ["b64"], "b64": False},
        {"b64": False},
    ],
    ids=["crit-unknown", "crit-empty", "crit-string", "crit-b64", "b64-false"],
)
async def test_J12_crit_and_b64_are_refused(
    setup: Setup, shared_issuer: Issuer, extra: dict[str, Any]
) -> None:
    """RFC 7515 §4.1.11: crit lists extensions we do not implement; RFC 7797 b64 is unsupported."""
    exc = await refused(setup, shared_issuer.token(headers=extra), "header member")
    assert exc.description.endswith(("crit is not accepted", "b64 is not accepted"))


# --- J13: duplicate members ------------------------------------------------------------


async def test_J13_duplicate_claim_is_refused(setup: Setup, shared_issuer: Issuer) -> None:
    """RFC 7519 §4: duplicate claim names MUST be rejected (no last-one-wins)."""
    claims = json.dumps(shared_issuer.claims()).encode()
    header = {"alg": "RS256", "typ": "at+jwt", "kid": RSA_KID}
    for duplicate in (b'"sub": "admin", ', b'"aud": "other", ', b'"scope": "x", '):
        payload = b"{" + duplicate + claims[1:]
        await refused(setup, shared_issuer.raw(header, payload), "duplicate member")


async def test_J13_duplicate_header_member_is_refused(setup: Setup, shared_issuer: Issuer) -> None:
    """RFC 7515 §4: duplicate header parameter names MUST be rejected."""
    payload = shared_issuer.claims()
    for header in (
        b'{"alg":"none","alg":"RS256","typ":"at+jwt","kid":"rsa-1"}',
        b'{"alg":"RS256","typ":"JWT","typ":"at+jwt","kid":"rsa-1"}',
        b'{"alg":"RS256","typ":"at+jwt","kid":"x","kid":"rsa-1"}',
    ):
        await refused(setup, shared_issuer.raw(header, payload), "duplicate member")


# --- J14: size and encoding -----------------------------------------------------------


def sized_token(issuer: Issuer, size: int) -> str:
    """A valid token of exactly `size` characters."""
    base = len(issuer.token(issuer.claims(pad="")))
    guess = (size - base) * 3 // 4
    for extra in range(4):
        for pad in range(guess - 16, guess + 8):
            claims = issuer.claims(pad="x" * pad, jti="j" * 16)
            token = issuer.token(claims, headers={"x": "y" * extra})
            if len(token) == size:
                return token
    raise AssertionError("no token of that size")


async def test_J14_token_of_8_kib_verifies_and_one_more_is_refused(
    setup: Setup, shared_issuer: Issuer
) -> None:
    """The 8 KiB bound is inclusive, in the transport and in the parser."""
    token = sized_token(shared_issuer, MAX_TOKEN_BYTES)
    assert (await setup.verifier.verify(token_from_request(f"Bearer {token}", ""))).subject
    bigger = sized_token(shared_issuer, MAX_TOKEN_BYTES + 1)
    await refused(setup, bigger, "too large")


async def test_J14_huge_token_is_refused(setup: Setup, shared_issuer: Issuer) -> None:
    """A validly signed 100 KB token is refused by size."""
    token = shared_issuer.token(shared_issuer.claims(pad="x" * 100_000))
    await refused(setup, token, "too large")


async def test_J14_deep_nesting_is_refused(setup: Setup, shared_issuer: Issuer) -> None:
    """100k-deep nesting is refused for size; ~2,500-deep within 8 KiB by the parser."""
    header = {"alg": "RS256", "typ": "at+jwt", "kid": RSA_KID}
    deep = b"[" * 100_000 + b"]" * 100_000
    await refused(setup, shared_issuer.raw(header, b'{"x":' + deep + b"}"), "too large")
    nested = b"[" * 2500 + b"]" * 2500
    await refused(setup, shared_issuer.raw(header, b'{"x":' + nested + b"}"), "not a JSON object")
    objects = b'{"":' * 1100 + b"1" + b"}" * 1100
    await refused(setup, shared_issuer.raw(header, objects), "not a JSON object")


async def test_J14_padding_is_refused(setup: Setup, shared_issuer: Issuer) -> None:
    """RFC 7515 §2: no `=` padding in any segment."""
    parts = shared_issuer.token().split(".")
    for index in range(3):
        padded = list(parts)
        padded[index] += "=" * (-len(padded[index]) % 4 or 4)
        await refused(setup, ".".join(padded), "base64url")
    await refused(setup, shared_issuer.token() + "==", "base64url")


async def test_J14_standard_alphabet_is_refused(setup: Setup, shared_issuer: Issuer) -> None:
    """RFC 7515 §2: `+` and `/` are not base64url."""
    token = next(t for t in (shared_issuer.token() for _ in range(50)) if "-" in t or "_" in t)
    await refused(setup, token.replace("-", "+").replace("_", "/"), "malformed base64url")


@pytest.mark.parametrize("space", [" ", "\n", "\r\n", "\t", "\u00a0"])
async def test_J14_whitespace_is_refused(setup: Setup, shared_issuer: Issuer, space: str) -> None:
    """RFC 7515 §7.1: no whitespace inside or around the compact serialization."""
    token = shared_issuer.token()
    for variant in (
        token[:10] + space + token[10:],
        token.replace(".", "." + space, 1),
        token + space,
        space + token,
    ):
        await refused(setup, variant)


async def test_J14_non_canonical_trailing_bits_are_refused(
    setup: Setup, shared_issuer: Issuer
) -> None:
    """RFC 4648 §3.5: a signature with non-zero pad bits is a different encoding."""
    token = shared_issuer.token()
    head, body, sig = token.split(".")
    assert len(sig) % 4 == 2  # 256 octets: the last character carries 4 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    changed = sig[:-1] + alphabet[alphabet.index(sig[-1]) + 1]
    assert segment_bytes(f"x.x.{changed}", 2) == segment_bytes(token, 2)
    await refused(setup, f"{head}.{body}.{changed}", "non-canonical")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
async def test_J14_non_utf8_json_is_refused(
    setup: Setup, shared_issuer: Issuer, encoding: str
) -> None:
    """RFC 7515 §5.2 / RFC 8259 §8.1: UTF-8 JSON without a byte order mark."""
    payload = json.dumps(shared_issuer.claims()).encode(encoding)
    header = json.dumps({"alg": "RS256", "typ": "at+jwt", "kid": RSA_KID})
    await refused(setup, shared_issuer.raw(header.encode(), payload), "not a JSON object")
    await refused(
        setup, shared_issuer.raw(header.encode(encoding), shared_issuer.claims()), "header"
    )


# --- J15: key set changes ----------------------------------------------------------------


async def test_J15_a_key_removed_from_the_jwks_stops_verifying(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any]
) -> None:
    """After the next refresh, tokens signed by a withdrawn key are refused."""
    second = publish(issuer, key_pool, "rsa-2")
    setup = make_setup(issuer, max_age=300, refetch_cooldown=10)
    await setup.load()
    old_token = issuer.token(kid=second)
    assert (await setup.verifier.verify(old_token)).subject
    issuer.published.discard(second)
    setup.clock.advance(300)
    with pytest.raises(InvalidToken, match="unknown key"):
        await setup.verifier.verify(old_token)
    assert setup.fetches() == (1, 2)
    assert (await setup.verifier.verify(issuer.token())).subject


async def test_J15_a_removed_key_goes_on_the_next_unknown_kid_refetch(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any]
) -> None:
    """A refetch for a new kid also replaces the set, dropping withdrawn keys."""
    old = publish(issuer, key_pool, "rsa-2")
    setup = make_setup(issuer, refetch_cooldown=10)
    await setup.load()
    issuer.published.discard(old)
    new = publish(issuer, key_pool, "rsa-3")
    setup.clock.advance(10)
    assert (await setup.verifier.verify(issuer.token(kid=new))).subject
    with pytest.raises(InvalidToken, match="unknown key"):
        await setup.verifier.verify(issuer.token(kid=old))


# --- key sets with keys sharing a kid or without one (RFC 7517 §4.5) -------------------


def publish_unnamed(issuer: Issuer, key: Any, *names: str) -> None:
    """Publish `key` under each name, each time without a kid."""
    for name in names:
        issuer.keys[name] = key
        issuer.published.add(name)
        issuer.published_kid[name] = None


async def test_several_keys_without_kid_each_verify_their_tokens(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any]
) -> None:
    """kid is OPTIONAL: a JWKS of several keys without one keeps them all, and a token
    without kid verifies with whichever of them signed it, RSA or EC."""
    for name in (*SPARE_KIDS, EC_KID):
        publish_unnamed(issuer, key_pool[name], name)
    setup = make_setup(issuer, algorithms=frozenset({"RS256", "ES256"}))
    await setup.load()
    assert [jwk.get("kid") for jwk in issuer.jwks()["keys"]] == [None, RSA_KID, None, None]
    for token in (*(issuer.token(kid=name) for name in SPARE_KIDS), es_token(issuer)):
        assert "kid" not in jwt.get_unverified_header(token)
        assert (await setup.verifier.verify(token)).subject == "importer@clients"
    assert setup.fetches() == (1, 1)


async def test_keys_of_different_types_sharing_a_kid_each_verify_their_tokens(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any]
) -> None:
    """RFC 7517 §4.5: an RSA and an EC key may share a kid as equivalent alternatives;
    RS256 tokens verify with the one, ES256 tokens with the other."""
    publish(issuer, key_pool, EC_KID)
    issuer.published_kid[EC_KID] = RSA_KID
    setup = make_setup(issuer, algorithms=frozenset({"RS256", "ES256"}))
    await setup.load()
    assert [jwk["kid"] for jwk in issuer.jwks()["keys"]] == [RSA_KID, RSA_KID]
    for token in (issuer.token(), es_token(issuer)):
        assert jwt.get_unverified_header(token)["kid"] == RSA_KID
        assert (await setup.verifier.verify(token)).subject == "importer@clients"
    assert setup.fetches() == (1, 1)


async def test_a_key_without_kid_that_leaves_the_set_stops_verifying_remembered_tokens(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token verified by the last of several candidates is remembered (no more checks)
    until its key leaves the JWKS; then it is refused, the other keys' tokens are not."""
    publish_unnamed(issuer, key_pool["rsa-2"], "rsa-2")
    publish_unnamed(issuer, key_pool["rsa-3"], "rsa-3")
    setup = make_setup(issuer, max_age=300, refetch_cooldown=10)
    await setup.load()
    checks = count_signature_checks(monkeypatch)
    token, other = issuer.token(kid="rsa-3"), issuer.token(kid="rsa-2")
    for _ in range(3):
        assert (await setup.verifier.verify(token)).subject
    assert checks == ["RS256"] * 3  # rsa-1, rsa-2, then rsa-3 verifies; once
    issuer.published.discard("rsa-3")
    setup.clock.advance(300)
    with pytest.raises(InvalidToken, match="signature is invalid"):
        await setup.verifier.verify(token)
    assert setup.fetches() == (1, 2)
    assert (await setup.verifier.verify(other)).subject


async def test_a_key_sharing_a_kid_that_leaves_the_set_stops_verifying_remembered_tokens(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any]
) -> None:
    """The EC key of a shared kid withdrawn: its remembered token is refused, the RSA
    key's tokens under the same kid still verify."""
    publish(issuer, key_pool, EC_KID)
    issuer.published_kid[EC_KID] = RSA_KID
    setup = make_setup(issuer, algorithms=frozenset({"RS256", "ES256"}), max_age=300)
    await setup.load()
    token = es_token(issuer)
    for _ in range(2):
        assert (await setup.verifier.verify(token)).subject
    issuer.published.discard(EC_KID)
    setup.clock.advance(300)
    with pytest.raises(InvalidToken, match="unknown key"):
        await setup.verifier.verify(token)
    assert (await setup.verifier.verify(issuer.token())).subject


async def test_a_token_without_kid_from_a_key_not_in_the_set_tries_at_most_the_bound(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More fitting keys than MAX_CANDIDATES: a forged token without kid costs at most that
    many signature checks, is 401 invalid_token, and causes no fetch."""
    names = [f"copy-{i}" for i in range(MAX_CANDIDATES + 2)]
    publish_unnamed(issuer, key_pool["rsa-2"], *names)
    setup = make_setup(issuer)
    await setup.load()
    issuer.keys["stranger"] = key_pool["rsa-3"]
    issuer.published_kid["stranger"] = None
    checks = count_signature_checks(monkeypatch)
    await refused(setup, issuer.token(kid="stranger"), "signature is invalid")
    assert checks == ["RS256"] * MAX_CANDIDATES


async def test_unknown_kids_refetch_at_most_once_per_cooldown_beside_keys_without_kid(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any]
) -> None:
    """A token naming a kid never falls back to keys without one, and unknown kids still
    cause at most one refetch per cooldown."""
    publish_unnamed(issuer, key_pool["rsa-2"], "rsa-2")
    setup = make_setup(issuer, refetch_cooldown=10)
    await setup.load()
    signed_by_unnamed = issuer.token(kid="rsa-2")
    for round_ in (1, 2):
        for _ in range(100):
            header = {"alg": "RS256", "typ": "at+jwt", "kid": secrets.token_urlsafe(12)}
            with pytest.raises(InvalidToken, match="unknown key"):
                await setup.verifier.verify(tamper(signed_by_unnamed, header))
        assert setup.fetches() == (1, round_)
        setup.clock.advance(10)


async def test_static_keys_keep_several_secrets_without_kid(shared_issuer: Issuer) -> None:
    """StaticKeys follow the same rules: each configured secret verifies its tokens."""
    other = SECRET[::-1]
    verifier = TokenVerifier(
        ClaimRules(shared_issuer.url, shared_issuer.audience),
        frozenset({"HS256"}),
        StaticKeys(VerificationKey(None, "HS256", SECRET), VerificationKey(None, "HS256", other)),
    )
    claims = shared_issuer.claims()
    for secret in (SECRET, other):
        for header in (
            {"alg": "HS256", "typ": "at+jwt"},
            {"alg": "HS256", "typ": "at+jwt", "kid": "x"},
        ):
            assert (await verifier.verify(hs256(header, claims, secret))).client_id == "importer"
    with pytest.raises(InvalidToken, match="signature is invalid"):
        await verifier.verify(hs256({"alg": "HS256", "typ": "at+jwt"}, claims, b"1" * 32))


# --- issuer outages ------------------------------------------------------------------


async def test_tokens_verify_during_an_issuer_outage(
    issuer: Issuer, make_setup: MakeSetup, caplog: pytest.LogCaptureFixture
) -> None:
    """Cached keys keep verifying when the issuer is down; the outage is logged."""
    setup = make_setup(issuer, max_age=300)
    await setup.load()
    token = issuer.token()
    issuer.stop()
    setup.clock.advance(301)
    with caplog.at_level(logging.WARNING, logger="timesheets.bearer.jwks"):
        assert (await setup.verifier.verify(token)).subject == "importer@clients"
    assert any(
        r.levelno == logging.WARNING and r.name == "timesheets.bearer.jwks" for r in caplog.records
    )


async def test_no_cached_keys_and_no_issuer_is_keys_unavailable(
    issuer: Issuer, make_setup: MakeSetup
) -> None:
    """KeysUnavailable (→ 503) is not an InvalidToken: the token may be fine."""
    setup = make_setup(issuer)
    token = issuer.token()
    issuer.stop()
    with pytest.raises(KeysUnavailable):
        await setup.verifier.verify(token)
    assert not issubclass(KeysUnavailable, InvalidToken)


# --- misc ----------------------------------------------------------------------------


async def test_signature_covers_header_and_payload(setup: Setup, shared_issuer: Issuer) -> None:
    """RFC 7515 §5.2: any change to the signed input invalidates the token."""
    valid = shared_issuer.token()
    header = {"alg": "RS256", "typ": "at+jwt", "kid": RSA_KID, "x": 1}
    await refused(setup, tamper(valid, header=header), "signature is invalid")
    claims = shared_issuer.claims(scope="admin")
    await refused(setup, tamper(valid, payload=claims), "signature is invalid")


async def test_a_different_signing_key_with_a_known_kid_is_refused(
    setup: Setup, shared_issuer: Issuer, key_pool: dict[str, Any]
) -> None:
    """A token signed by an attacker's key under our kid does not verify."""
    attacker = key_pool["rsa-3"]
    header = {"alg": "RS256", "typ": "at+jwt", "kid": RSA_KID}
    signing_input = f"{segment(header)}.{segment(shared_issuer.claims())}".encode()
    signature = jwt.get_algorithm_by_name("RS256").sign(signing_input, attacker)
    await refused(setup, f"{signing_input.decode()}.{b64url(signature)}", "signature is invalid")


async def test_hs256_with_the_issuer_secret_cannot_use_an_rs_key_by_kid(
    shared_issuer: Issuer, make_setup: MakeSetup
) -> None:
    """With HS256 allowed from StaticKeys only, an RSA kid never turns into a secret."""
    static = StaticKeys(VerificationKey(None, "HS256", SECRET))
    setup = make_setup(shared_issuer, algorithms=frozenset({"HS256"}), keys=static)
    token = hs256(
        {"alg": "HS256", "typ": "at+jwt", "kid": RSA_KID},
        shared_issuer.claims(),
        public_secrets(shared_issuer)["pem"],
    )
    with pytest.raises(InvalidToken, match="signature is invalid"):
        await setup.verifier.verify(token)


# --- remembered tokens -------------------------------------------------------------------


def count_signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each signature check the verifier makes (by algorithm)."""
    checks: list[str] = []
    real = verifier_module.verify_signature

    def counted(alg: str, key: VerificationKey, signing_input: bytes, signature: bytes) -> bool:
        checks.append(alg)
        return real(alg, key, signing_input, signature)

    monkeypatch.setattr(verifier_module, "verify_signature", counted)
    return checks


async def test_a_token_seen_before_skips_the_signature_check_not_its_times(
    issuer: Issuer, make_setup: MakeSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same token again is not re-signed-checked, but its times are checked each call."""
    now = [float(NOW)]
    setup = make_setup(issuer, now=lambda: now[0])
    checks = count_signature_checks(monkeypatch)
    token = issuer.token(at(issuer))
    for _ in range(3):
        assert (await setup.verifier.verify(token)).subject == "importer@clients"
    assert checks == ["RS256"]
    now[0] = NOW + 600 + 31  # past exp and the 30 s leeway
    with pytest.raises(InvalidToken, match="expired"):
        await setup.verifier.verify(token)


@pytest.mark.parametrize(
    ("claims", "later", "refusal"),
    [
        ({"nbf": NOW + 20}, NOW - 11, "not valid yet"),
        ({"iat": NOW + 20, "exp": NOW + 600}, NOW - 11, "issued in the future"),
    ],
)
async def test_a_token_seen_before_is_held_to_its_times_when_the_clock_goes_back(
    issuer: Issuer,
    make_setup: MakeSetup,
    claims: dict[str, int],
    later: float,
    refusal: str,
) -> None:
    """A clock set back (by NTP, say) puts `nbf` or `iat` ahead again: the remembered
    token is refused as it would be the first time, and accepted once time catches up."""
    now = [float(NOW)]
    setup = make_setup(issuer, now=lambda: now[0])
    token = issuer.token(at(issuer, **claims))
    assert (await setup.verifier.verify(token)).subject == "importer@clients"
    now[0] = later
    with pytest.raises(InvalidToken, match=refusal):
        await setup.verifier.verify(token)
    now[0] = float(NOW)
    assert (await setup.verifier.verify(token)).subject == "importer@clients"


async def test_a_token_seen_before_gives_each_caller_its_own_claims(
    setup: Setup, shared_issuer: Issuer
) -> None:
    """What one request does with its principal's claims never reaches the next one."""
    token = shared_issuer.token()
    first = await setup.verifier.verify(token)
    first.claims["sub"] = "someone else"
    second = await setup.verifier.verify(token)
    assert second.claims["sub"] == second.subject == "importer@clients"


async def test_a_refused_token_is_checked_in_full_every_time(
    setup: Setup, shared_issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither a bad signature nor a failed claim check is remembered."""
    checks = count_signature_checks(monkeypatch)
    good = shared_issuer.token()
    head, body, _ = good.split(".")
    forged = f"{head}.{body}.{shared_issuer.token(shared_issuer.claims(sub='other')).split('.')[2]}"
    other_audience = shared_issuer.token(shared_issuer.claims(aud="https://elsewhere.test"))
    for _ in range(2):
        with pytest.raises(InvalidToken, match="signature is invalid"):
            await setup.verifier.verify(forged)
        with pytest.raises(InvalidToken, match="another audience"):
            await setup.verifier.verify(other_audience)
    assert checks == ["RS256"] * 4


async def remembered_then_withdrawn(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any]
) -> tuple[Setup, str]:
    """A verifier that has verified (and so remembers) a token signed by a second key,
    after the issuer withdrew that key and the cached JWKS aged out."""
    second = publish(issuer, key_pool, "rsa-2")
    setup = make_setup(issuer, max_age=300, refetch_cooldown=10)
    await setup.load()
    token = issuer.token(kid=second)
    assert (await setup.verifier.verify(token)).subject
    assert (await setup.verifier.verify(token)).subject
    issuer.published.discard(second)
    setup.clock.advance(300)
    return setup, token


async def test_a_remembered_token_is_refused_once_its_key_leaves_the_jwks(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any]
) -> None:
    """RFC 8725 §3.1 still holds for a remembered token: no key, no acceptance."""
    setup, token = await remembered_then_withdrawn(issuer, make_setup, key_pool)
    with pytest.raises(InvalidToken, match="unknown key"):
        await setup.verifier.verify(token)


async def test_concurrent_calls_with_a_remembered_token_whose_key_left_are_all_refused(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any]
) -> None:
    """Requests that wait on the same JWKS refresh each get InvalidToken, none a crash."""
    setup, token = await remembered_then_withdrawn(issuer, make_setup, key_pool)
    outcomes = await asyncio.gather(
        *(setup.verifier.verify(token) for _ in range(3)), return_exceptions=True
    )
    assert [type(outcome) for outcome in outcomes] == [InvalidToken] * 3


async def test_a_remembered_token_is_checked_again_against_a_replaced_key(
    issuer: Issuer, make_setup: MakeSetup, key_pool: dict[str, Any]
) -> None:
    """A kid whose key material changed at the issuer verifies its tokens afresh."""
    setup = make_setup(issuer, max_age=300, refetch_cooldown=10)
    await setup.load()
    token = issuer.token()
    assert (await setup.verifier.verify(token)).subject
    issuer.keys[RSA_KID] = key_pool["rsa-2"]
    setup.clock.advance(300)
    with pytest.raises(InvalidToken, match="signature is invalid"):
        await setup.verifier.verify(token)


async def test_remembered_tokens_are_bounded_least_recently_used_first(
    setup: Setup, shared_issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most VERIFIED_TOKENS are kept; the one used longest ago is checked afresh."""
    monkeypatch.setattr(verifier_module, "VERIFIED_TOKENS", 2)
    verifier = TokenVerifier(setup.verifier.rules, setup.verifier.algorithms, setup.cache)
    checks = count_signature_checks(monkeypatch)
    first, second, third = (shared_issuer.token() for _ in range(3))
    for token in (first, second, first, third):  # third pushes out second, not first
        await verifier.verify(token)
    assert len(checks) == 3
    await verifier.verify(first)
    assert len(checks) == 3
    await verifier.verify(second)
    assert len(checks) == 4
