"""Property tests: whatever a client sends, refusals are only `BearerError`s.

A resource server turns a BearerError into an RFC 6750 §3 response (401/400/403); any
other exception would be a 500 and a crash path an attacker can reach. The verifier
here uses StaticKeys (HS256 secret, RSA, P-256 and Ed25519 public keys), so the loop
does no I/O and KeysUnavailable cannot occur.

Tokens are generated structurally (valid tokens with a few header/claim mutations,
correctly signed so the claim checks are reached), as tampered strings and as garbage.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.bearer.conftest import b64url, hs256
from timesheets.bearer.claims import ClaimRules, Principal
from timesheets.bearer.errors import BearerError
from timesheets.bearer.keys import VerificationKey
from timesheets.bearer.transport import token_from_request
from timesheets.bearer.verifier import StaticKeys, TokenVerifier

ISS = "https://id.timesheets.test"
AUD = "https://api.timesheets.test"
NOW = 1_900_000_000
SECRET = b"fuzz-secret-fuzz-secret-fuzz-sec"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
SIGNERS: dict[str, tuple[str | None, Any]] = {
    "HS256": (None, SECRET),
    "RS256": ("rsa", RSA_KEY),
    "PS256": ("rsa", RSA_KEY),
    "ES256": ("ec", EC_KEY),
    "EdDSA": ("ed", ED_KEY),
}
VERIFIER = TokenVerifier(
    ClaimRules(ISS, AUD),
    frozenset(SIGNERS),
    StaticKeys(
        VerificationKey(None, "HS256", SECRET),
        VerificationKey("rsa", None, RSA_KEY.public_key()),
        VerificationKey("ec", "ES256", EC_KEY.public_key()),
        VerificationKey("ed", "EdDSA", ED_KEY.public_key()),
    ),
    clock=lambda: NOW,
)
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DELETE = object()
B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def run(coroutine: Coroutine[Any, Any, Principal]) -> Principal:
    """Drive a coroutine that must finish without suspending (StaticKeys do no I/O)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coroutine.close()
    raise AssertionError("verification suspended: the fuzz loop must not do I/O")


def verify_or_refuse(token: str) -> Principal | None:
    """Verify; a BearerError is a refusal, anything else propagates and fails the test."""
    try:
        return run(VERIFIER.verify(token))
    except BearerError:
        return None


# --- strategies ------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([10**400, -(10**400), 2**1024, 2**63, -(2**63), 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
EDGE_NUMBERS = [10**400, -(10**400), 2**1024, -(2**1024), 1e308, -1e308, 2**53 + 1, 0.5, "1"]
numeric_dates = st.one_of(
    st.integers(min_value=NOW - 10**6, max_value=NOW + 10**6),
    st.floats(min_value=NOW - 10**6, max_value=NOW + 10**6),
    st.sampled_from(EDGE_NUMBERS),
    json_values,
)
CLAIM_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "iss": st.one_of(st.sampled_from([ISS, ISS + "/", ISS.upper(), [ISS]]), json_values),
    "aud": st.one_of(
        st.sampled_from([AUD, [AUD], ["x", AUD], [], [AUD, 1], AUD + "/"]), json_values
    ),
    "exp": numeric_dates,
    "iat": numeric_dates,
    "nbf": numeric_dates,
    "sub": json_values,
    "client_id": json_values,
    "jti": json_values,
    "scope": st.one_of(st.text(max_size=30), json_values),
    "permissions": st.one_of(st.lists(st.text(max_size=8), max_size=3), json_values),
    "gty": st.one_of(st.just("client-credentials"), json_values),
    "scp": json_values,
}
HEADER_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "alg": st.one_of(st.sampled_from(["none", "None", "HS512", "rs256", *SIGNERS]), json_values),
    "typ": st.one_of(
        st.sampled_from(["at+jwt", "AT+JWT", "application/at+jwt", "JWT", "dpop+jwt"]),
        json_values,
    ),
    "kid": st.one_of(
        st.sampled_from(["rsa", "ec", "ed", "../../etc/passwd", "a\r\nb", ""]),
        st.text(max_size=140),
        json_values,
    ),
    "crit": json_values,
    "b64": json_values,
    "jku": json_values,
    "jwk": json_values,
    "x5u": json_values,
    "x5c": json_values,
    "cty": json_values,
    "zip": json_values,
}


@st.composite
def mutations(draw: st.DrawFn, values: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """A few members replaced by arbitrary values or deleted."""
    names = draw(st.lists(st.sampled_from(sorted(values)), max_size=3, unique=True))
    return {name: draw(st.one_of(values[name], st.just(DELETE))) for name in names}


def apply(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The base with the changes applied (DELETE removes a member)."""
    result = dict(base)
    for name, value in changes.items():
        if value is DELETE:
            result.pop(name, None)
        else:
            result[name] = value
    return result


OPTIONAL_CHECKED = {"nbf": None, "permissions": None}


def valid_claims() -> dict[str, Any]:
    """Claims that pass every check at NOW."""
    return {
        "iss": ISS,
        "aud": AUD,
        "sub": "alice",
        "client_id": "spa",
        "iat": NOW,
        "exp": NOW + 600,
        "jti": "j-1",
        "scope": "read:timesheets",
    }


@st.composite
def encoded_json(draw: st.DrawFn, value: dict[str, Any]) -> bytes:
    """JSON bytes, usually canonical UTF-8, sometimes another encoding or spelling."""
    text = json.dumps(value)
    how = draw(st.sampled_from(["utf-8"] * 6 + ["raw", "utf-16", "utf-8-sig", "surrogates"]))
    if how == "raw":
        return draw(st.binary(max_size=200))
    if how == "surrogates":
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return text.encode(how)


@st.composite
def structured_tokens(draw: st.DrawFn) -> str:
    """A token built from (possibly mutated) header and claims, usually properly signed."""
    alg = draw(st.sampled_from(sorted(SIGNERS)))
    kid, signing_key = SIGNERS[alg]
    header = {"alg": alg, "typ": "at+jwt"} | ({"kid": kid} if kid else {})
    if draw(st.integers(0, 2)) == 0:
        header = apply(header, draw(mutations(HEADER_VALUES)))
    claims = apply(valid_claims(), draw(mutations(CLAIM_VALUES)))
    signing_input = (
        f"{b64url(draw(encoded_json(header)))}.{b64url(draw(encoded_json(claims)))}".encode()
    )
    if draw(st.integers(0, 3)) > 0:
        signature = jwt.get_algorithm_by_name(alg).sign(signing_input, signing_key)
    else:
        signature = draw(st.binary(max_size=300))
    token = f"{signing_input.decode()}.{b64url(signature)}"
    if draw(st.integers(0, 4)) == 0:
        token = draw(tampered(token))
    return token


@st.composite
def tampered(draw: st.DrawFn, token: str) -> str:
    """A small textual change: insert, delete or replace a character, or add padding."""
    index = draw(st.integers(0, len(token)))
    char = draw(st.one_of(st.sampled_from(list(B64_CHARS + ".=+/ \n\t")), st.characters()))
    action = draw(st.sampled_from(["insert", "delete", "replace", "pad"]))
    if action == "insert":
        return token[:index] + char + token[index:]
    if action == "delete":
        return token[:index] + token[index + 1 :]
    if action == "replace":
        return token[:index] + char + token[index + 1 :]
    return token + "=" * draw(st.integers(1, 3))


garbage = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=B64_CHARS + ".=+/ \n", max_size=300),
    st.lists(st.text(alphabet=B64_CHARS, max_size=60), min_size=0, max_size=6).map(".".join),
)


def hs256_token(claims: dict[str, Any]) -> str:
    """A correctly HS256-signed at+jwt."""
    return hs256({"alg": "HS256", "typ": "at+jwt"}, claims, SECRET)


# A signed token whose exp is a JSON integer too large for a float (RFC 8259 §6 allows it).
OVERFLOWING_EXP = hs256_token(valid_claims() | {"exp": 10**400})


# --- properties ------------------------------------------------------------------------


@FUZZ
@given(token=st.one_of(structured_tokens(), garbage))
@example(token="")
@example(token="..")
@example(token="." * 9000)
@example(token=OVERFLOWING_EXP)
def test_verify_raises_only_bearer_errors(token: str) -> None:
    """RFC 6750 §3.1: every refusal is an invalid_token-style BearerError, never a crash."""
    verify_or_refuse(token)


@FUZZ
@given(
    authorization=st.one_of(
        st.none(),
        st.text(max_size=100),
        st.text(max_size=100).map(lambda t: "Bearer " + t),
        st.sampled_from(["Bearer", "bearer  ", "Basic x", "Bearer a b"]),
    ),
    query=st.one_of(
        st.text(max_size=60),
        st.text(max_size=20).map(lambda t: "access_token=" + t),
        st.just("access_token"),
    ),
)
def test_token_from_request_raises_only_bearer_errors(
    authorization: str | None, query: str
) -> None:
    """RFC 6750 §2.1/§3.1: a token is returned, or a BearerError; nothing else."""
    try:
        token = token_from_request(authorization, query)
    except BearerError:
        return
    assert token
    assert not any(c.isspace() for c in token)
    assert len(token) <= 8192
    assert authorization is not None
    assert authorization.strip().lower().startswith("bearer")


@FUZZ
@given(token=structured_tokens(), noise=st.sampled_from(["", " ", "  "]))
@example(token=OVERFLOWING_EXP, noise="")
def test_transport_then_verify_raises_only_bearer_errors(token: str, noise: str) -> None:
    """The whole request path: header parsing then verification."""
    try:
        extracted = token_from_request(f"Bearer{noise} {token}", "")
    except BearerError:
        return
    verify_or_refuse(extracted)


@FUZZ
@given(
    alg=st.sampled_from(sorted(SIGNERS)),
    # Any identifier that can be stored: UTF-8 (no unpaired surrogate), without a NUL.
    sub=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20),
    scope=st.text(max_size=40),
    extra=st.dictionaries(
        # Optional claims the verifier checks (a malformed `nbf` or `permissions` is
        # rightly refused) are left to the properties above.
        st.text(max_size=6).filter(lambda k: k not in valid_claims() | OPTIONAL_CHECKED),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.text(max_size=10),
            st.lists(st.text(max_size=5), max_size=3),
        ),
        max_size=2,
    ),
)
def test_valid_tokens_verify(alg: str, sub: str, scope: str, extra: dict[str, Any]) -> None:
    """The generator's base tokens are valid, so the properties above reach the claim checks."""
    kid, signing_key = SIGNERS[alg]
    header = {"alg": alg, "typ": "at+jwt"} | ({"kid": kid} if kid else {})
    claims = valid_claims() | extra | {"sub": sub, "scope": scope}
    principal = run(VERIFIER.verify(jwt.encode(claims, signing_key, alg, headers=header)))
    assert principal.subject == sub
    assert principal.scopes == frozenset(s for s in scope.split(" ") if s)
