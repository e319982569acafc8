"""Strict compact JWS parsing (RFC 7515 §7.1, RFC 8725 §3) before any key is looked up."""

from __future__ import annotations

import base64
import json
import string

import pytest

from tests.bearer.conftest import b64url, forge, segment
from timesheets.bearer import jws
from timesheets.bearer.errors import InvalidToken
from timesheets.bearer.jws import MAX_TOKEN_BYTES, b64url_decode, parse_compact

ALGS = frozenset({"RS256", "ES256"})
HEADER = {"alg": "RS256", "typ": "at+jwt", "kid": "k1"}
PAYLOAD = {"sub": "alice", "n": 1}
B64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def refused(token: str, fragment: str, algs: frozenset[str] = ALGS) -> InvalidToken:
    """Assert the token is refused with a description containing `fragment`."""
    with pytest.raises(InvalidToken) as caught:
        parse_compact(token, algs)
    assert caught.value.error == "invalid_token"
    assert fragment in caught.value.description, caught.value.description
    return caught.value


def noncanonical(seg: str) -> str:
    """The same bytes with non-zero unused trailing bits (RFC 4648 §3.5)."""
    assert len(seg) % 4 in (2, 3)
    return seg[:-1] + B64[B64.index(seg[-1]) + 1]


def test_a_well_formed_token_is_parsed() -> None:
    """RFC 7515 §7.1: header.payload.signature, each base64url of its octets."""
    signature = b"\x00\xff" * 128
    token = forge(HEADER, PAYLOAD, signature)
    parsed = parse_compact(token, ALGS)
    assert parsed.header == HEADER
    assert parsed.payload == PAYLOAD
    assert parsed.signature == signature
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()
    assert parsed.alg == "RS256"
    assert parsed.kid == "k1"


def test_kid_is_optional() -> None:
    """RFC 7515 §4.1.4: kid is OPTIONAL."""
    assert parse_compact(forge({"alg": "RS256"}, PAYLOAD), ALGS).kid is None


# --- base64url (RFC 7515 §2: base64url without padding; RFC 4648 §5) ---------------------


def test_b64url_round_trip() -> None:
    """Canonical unpadded base64url decodes to its octets."""
    for data in (b"", b"a", b"ab", b"abc", bytes(range(256))):
        assert b64url_decode(b64url(data)) == data


@pytest.mark.parametrize(
    ("segment_text", "fragment"),
    [
        ("YQ==", "malformed"),  # `=` padding
        ("YWI=", "malformed"),
        ("+/8", "malformed"),  # standard alphabet, not URL-safe
        ("YW Jj", "malformed"),  # whitespace
        ("YWJj\n", "malformed"),
        ("\tYWJj", "malformed"),
        ("Y", "malformed"),  # length 1 mod 4 cannot be base64
        ("YWJjZ", "malformed"),
        ("YR", "non-canonical"),  # 'a' with non-zero trailing bits
        ("YWJ", "non-canonical"),
        ("YWI%", "malformed"),
        ("\u0661\u0662", "malformed"),  # Unicode digits are not base64 digits
    ],
)
def test_non_canonical_base64url_is_refused(segment_text: str, fragment: str) -> None:
    """RFC 7515 §2 + RFC 4648 §3.5: exactly one encoding per octet string is accepted."""
    with pytest.raises(InvalidToken) as caught:
        b64url_decode(segment_text)
    assert fragment in caught.value.description


@pytest.mark.parametrize("position", [0, 1, 2])
def test_padding_in_any_segment_is_refused(position: int) -> None:
    """RFC 7515 §2: base64url "with all trailing '=' characters omitted"."""
    parts = forge(HEADER, PAYLOAD).split(".")
    parts[position] += "=" * (-len(parts[position]) % 4 or 4)
    refused(".".join(parts), "base64url")


@pytest.mark.parametrize("position", [0, 1, 2])
def test_non_canonical_trailing_bits_in_any_segment_are_refused(position: int) -> None:
    """RFC 4648 §3.5: decoders MAY reject non-zero pad bits; a JWS verifier must."""
    header = dict(HEADER, pad="x")  # lengths chosen so every segment has unused bits
    parts = forge(header, {"sub": "alice"}, b"\x00" * 64).split(".")
    while len(parts[position]) % 4 not in (2, 3):
        header["pad"] += "x"
        parts = forge(header, {"sub": "alice" + header["pad"]}, b"\x00" * 64).split(".")
    parts[position] = noncanonical(parts[position])
    refused(".".join(parts), "non-canonical")


def test_standard_alphabet_is_refused() -> None:
    """RFC 7515 §2: `+` and `/` are not base64url characters."""
    signature = bytes([0xFB, 0xFF] * 32)  # encodes with `-` and `_`
    token = forge(HEADER, PAYLOAD, signature)
    assert "-" in token or "_" in token
    refused(token.replace("-", "+").replace("_", "/"), "malformed base64url")


@pytest.mark.parametrize("where", ["start", "end", "inner", "after-dot"])
@pytest.mark.parametrize("space", [" ", "\n", "\r\n", "\t"])
def test_whitespace_anywhere_is_refused(where: str, space: str) -> None:
    """RFC 7515 §7.1: no whitespace in a compact serialization."""
    token = forge(HEADER, PAYLOAD)
    if where == "start":
        token = space + token
    elif where == "end":
        token = token + space
    elif where == "inner":
        token = token[:5] + space + token[5:]
    else:
        token = token.replace(".", "." + space, 1)
    with pytest.raises(InvalidToken):
        parse_compact(token, ALGS)


# --- structure -------------------------------------------------------------------------


def test_token_over_8_kib_is_refused_before_parsing() -> None:
    """Resource bound: anything over 8 KiB is refused without decoding."""
    refused("." * (MAX_TOKEN_BYTES + 1), "too large")
    refused("a" * (MAX_TOKEN_BYTES + 1), "too large")


def test_token_of_exactly_8_kib_is_parsed() -> None:
    """The bound is inclusive: an 8192-character token is parsed."""
    candidates = (
        forge(HEADER, {"pad": "x" * pad}, b"\x00" * size)
        for pad in range(6000, 6200)
        for size in (64, 65, 66)
    )
    token = next(t for t in candidates if len(t) == MAX_TOKEN_BYTES)
    assert parse_compact(token, ALGS).payload["pad"].startswith("xxx")
    refused(token + "A", "too large")


@pytest.mark.parametrize("count", [1, 2, 4, 5, 6])
def test_wrong_number_of_segments_is_refused(count: int) -> None:
    """RFC 7515 §7.1: exactly three segments; five is JWE (RFC 7516 §7.1), not accepted."""
    parts = [segment(HEADER), segment(PAYLOAD), b64url(b"sig"), "AAAA", "AAAA", "AAAA"]
    refused(".".join(parts[:count]), "not a compact JWS")


def test_empty_signature_is_refused() -> None:
    """RFC 7518 §3.6 unsecured JWS (`h.p.`) is never accepted."""
    refused(f"{segment(HEADER)}.{segment(PAYLOAD)}.", "unsigned")
    refused(f"{segment({'alg': 'none'})}.{segment(PAYLOAD)}.", "unsigned")


def test_empty_header_or_payload_is_refused() -> None:
    """An empty segment is not a JSON object."""
    refused(f".{segment(PAYLOAD)}.AAAA", "header is not a JSON object")
    refused(f"{segment(HEADER)}..AAAA", "payload is not a JSON object")


# --- JSON (RFC 7515 §4, RFC 7519 §4, RFC 8259) ---------------------------------------------


@pytest.mark.parametrize("value", [b"[1]", b'"at+jwt"', b"123", b"null", b"true", b"[]"])
def test_header_must_be_a_json_object(value: bytes) -> None:
    """RFC 7515 §4: the JOSE header is a JSON object."""
    refused(f"{segment(value)}.{segment(PAYLOAD)}.AAAA", "header is not a JSON object")


@pytest.mark.parametrize("value", [b"[1]", b'"alice"', b"123", b"null", b"false", b"[{}]"])
def test_payload_must_be_a_json_object(value: bytes) -> None:
    """RFC 7519 §7.2 step 10: the JWT Claims Set is a JSON object."""
    refused(f"{segment(HEADER)}.{segment(value)}.AAAA", "payload is not a JSON object")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"alg":"RS256","alg":"RS256"}',
        b'{"alg":"none","alg":"RS256"}',
        b'{"alg":"RS256","kid":"a","kid":"b"}',
    ],
)
def test_duplicate_header_members_are_refused(raw: bytes) -> None:
    """RFC 7515 §4: header parameter names MUST be unique; the JWS must be rejected."""
    refused(f"{segment(raw)}.{segment(PAYLOAD)}.AAAA", "duplicate member")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"sub":"alice","sub":"admin"}',
        b'{"aud":"x","sub":"a","aud":"y"}',
        b'{"nested":{"a":1,"a":2}}',
        b'{"list":[{"a":1,"a":1}]}',
    ],
)
def test_duplicate_claims_are_refused(raw: bytes) -> None:
    """RFC 7519 §4: claim names MUST be unique; a parser must reject, not keep the last."""
    refused(f"{segment(HEADER)}.{segment(raw)}.AAAA", "duplicate member")


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_json_constants_are_refused(constant: bytes) -> None:
    """RFC 8259 §6: NaN and Infinity are not JSON numbers."""
    raw = b'{"exp":' + constant + b"}"
    refused(f"{segment(HEADER)}.{segment(raw)}.AAAA", "not valid JSON")
    header = b'{"alg":"RS256","x":[' + constant + b"]}"
    refused(f"{segment(header)}.{segment(PAYLOAD)}.AAAA", "not valid JSON")


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(PAYLOAD).encode("utf-16"),
        json.dumps(PAYLOAD).encode("utf-16-le"),
        json.dumps(PAYLOAD).encode("utf-16-be"),
        json.dumps(PAYLOAD).encode("utf-32"),
        b"\xef\xbb\xbf" + json.dumps(PAYLOAD).encode(),  # UTF-8 byte order mark
        b'{"sub":"\xff"}',  # invalid UTF-8
        b'{"sub":"\xed\xa0\x80"}',  # encoded surrogate
    ],
)
def test_json_must_be_utf8(raw: bytes) -> None:
    """RFC 7515 §5.2 / RFC 8259 §8.1: UTF-8 without a BOM; other encodings refused."""
    refused(f"{segment(HEADER)}.{segment(raw)}.AAAA", "not a JSON object")


def test_deep_nesting_within_the_size_limit_is_refused_cleanly() -> None:
    """Nesting deeper than the parser's recursion limit is an InvalidToken, not a crash."""
    for opener, closer, depth in ((b"[", b"]", 2500), (b'{"":', b"}", 1100)):
        raw = b'{"x":' + opener * depth + b"1" + closer * depth + b"}"
        token = f"{segment(HEADER)}.{segment(raw)}.AAAA"
        assert len(token) <= MAX_TOKEN_BYTES
        refused(token, "payload is not a JSON object")


def test_100k_deep_nesting_is_refused() -> None:
    """100,000 nested arrays: refused for size at the token level, and by the JSON parser."""
    raw = b"[" * 100_000 + b"]" * 100_000
    refused(f"{segment(HEADER)}.{segment(raw)}.AAAA", "too large")
    with pytest.raises(InvalidToken):
        jws._json_object(raw, "payload")


def test_huge_integer_literal_is_refused_cleanly() -> None:
    """An integer literal beyond Python's digit limit is an InvalidToken, not a ValueError."""
    raw = b'{"exp":' + b"9" * 5000 + b"}"
    refused(f"{segment(HEADER)}.{segment(raw)}.AAAA", "not a JSON object")


# --- algorithm (RFC 8725 §3.1) ----------------------------------------------------------


@pytest.mark.parametrize(
    "alg", ["none", "None", "NONE", "nOnE", "rs256", "RS256 ", "HS256", "PS256", "", None, 256]
)
def test_alg_outside_the_allow_list_is_refused(alg: object) -> None:
    """RFC 8725 §3.1: the algorithm comes from configuration, compared exactly."""
    refused(forge({"alg": alg, "typ": "at+jwt"}, PAYLOAD), "algorithm is not accepted")


def test_missing_alg_is_refused() -> None:
    """RFC 7515 §4.1.1: alg MUST be present."""
    refused(forge({"typ": "at+jwt"}, PAYLOAD), "algorithm is not accepted")


def test_allow_list_is_the_only_source_of_algorithms() -> None:
    """The same token is accepted or refused purely by the configured list."""
    token = forge({"alg": "ES256"}, PAYLOAD, b"\x00" * 64)
    assert parse_compact(token, frozenset({"ES256"})).alg == "ES256"
    refused(token, "algorithm is not accepted", frozenset({"RS256"}))


# --- header members (RFC 8725 §3.10, RFC 7515 §4.1.2-4.1.6, §4.1.11, RFC 7797) ---------


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("jku", "https://attacker.example/jwks"),
        ("jwk", {"kty": "oct", "k": "AAAA"}),
        ("x5u", "https://attacker.example/cert.pem"),
        ("x5c", ["MIIB"]),
        ("crit", ["x-unknown"]),
        ("crit", []),
        ("crit", ["b64"]),
        ("crit", "b64"),
        ("b64", False),
        ("b64", True),
    ],
)
def test_key_bearing_and_processing_header_members_are_refused(member: str, value: object) -> None:
    """RFC 8725 §3.10: never use keys a token supplies; crit/b64 change processing."""
    refused(forge(HEADER | {member: value}, PAYLOAD), f"header member {member}")


# --- kid -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kid", ["k1", "2024-01-01", "a.b:c+d/e=f_g", "A" * 128, "rsa-1", "urn:key:7"]
)
def test_ordinary_kids_are_accepted(kid: str) -> None:
    """RFC 7515 §4.1.4: kid is a case-sensitive string."""
    assert parse_compact(forge(HEADER | {"kid": kid}, PAYLOAD), ALGS).kid == kid


@pytest.mark.parametrize(
    "kid",
    [
        "",
        "A" * 129,
        "' OR '1'='1",
        "1; DROP TABLE keys",
        "|sleep 10",
        "$(sleep 10)",
        'a"b',
        "a\r\nb",
        "a\\b",
        "caf\u00e9",
        "a b",
        123,
        1.5,
        True,
        ["k1"],
        {"k": 1},
    ],
)
def test_hostile_kids_are_refused(kid: object) -> None:
    """RFC 8725 §3.10: a kid is untrusted input; only short, plain strings are used."""
    refused(forge(HEADER | {"kid": kid}, PAYLOAD), "malformed kid")


def test_checks_run_header_first() -> None:
    """The header is judged before the payload is decoded (no payload work for bad algs)."""
    refused(f"{segment({'alg': 'none'})}.!!!.AAAA", "algorithm is not accepted")


def test_signature_must_be_canonical_too() -> None:
    """RFC 7515 §2: the signature segment follows the same base64url rules."""
    token = forge(HEADER, PAYLOAD)
    head, body, sig = token.split(".")
    refused(f"{head}.{body}.{sig}==", "base64url")
    standard = base64.b64encode(bytes([0xFB, 0xFF] * 128)).decode()
    assert "+" in standard
    assert "/" in standard
    refused(f"{head}.{body}.{standard}", "base64url")
