"""Verification keys from a JWK set (RFC 7517) and which algorithm each may verify.

RFC 8725 §3.1/§3.2: a key is used only with the algorithm family it belongs to, and RSA
keys are at least 2048 bits (RFC 7518 §3.3).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.bearer.conftest import b64url
from timesheets.bearer.keys import (
    MAX_CANDIDATES,
    KeySet,
    VerificationKey,
    parse_jwks,
    select_keys,
    verify_signature,
)

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
# Deliberately weak: the verifier must refuse it (RFC 7518 §3.3).
RSA_SMALL = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC_P384 = ec.generate_private_key(ec.SECP384R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
SECRET = b"s" * 32

RSA_PUB = VerificationKey("rsa", None, RSA_KEY.public_key())
RSA_SMALL_PUB = VerificationKey("small", None, RSA_SMALL.public_key())
EC_PUB = VerificationKey("ec", None, EC_KEY.public_key())
EC_P384_PUB = VerificationKey("p384", None, EC_P384.public_key())
ED_PUB = VerificationKey("ed", None, ED_KEY.public_key())
HMAC_KEY = VerificationKey("hs", None, SECRET)


def rsa_jwk(key: Any = RSA_KEY, **extra: Any) -> dict[str, Any]:
    """The public JWK of an RSA key."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return RSAAlgorithm.to_jwk(public, as_dict=True) | extra


def kids(keys: Sequence[VerificationKey]) -> list[str | None]:
    """The kids of keys, in order."""
    return [key.kid for key in keys]


def test_public_jwks_are_parsed_in_order() -> None:
    """RFC 7517 §5: a JWK set's keys, in the set's order."""
    document = {
        "keys": [
            rsa_jwk(kid="r", alg="RS256", use="sig"),
            ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True) | {"kid": "e"},
            OKPAlgorithm.to_jwk(ED_KEY.public_key(), as_dict=True) | {"kid": "d"},
        ]
    }
    r, e, d = keys = parse_jwks(document)
    assert kids(keys) == ["r", "e", "d"]
    assert isinstance(r.key, rsa.RSAPublicKey)
    assert r.alg == "RS256"
    assert isinstance(e.key, ec.EllipticCurvePublicKey)
    assert e.alg is None
    assert isinstance(d.key, ed25519.Ed25519PublicKey)


def test_private_members_are_dropped() -> None:
    """RFC 7517 §9.2 / RFC 7518 §6.3.2: a published private key is used as a public key only."""
    private = RSAAlgorithm.to_jwk(RSA_KEY, as_dict=True) | {"kid": "leaked"}
    assert "d" in private
    ec_private = ECAlgorithm.to_jwk(EC_KEY, as_dict=True) | {"kid": "leaked-ec"}
    assert "d" in ec_private
    leaked, leaked_ec = parse_jwks({"keys": [private, ec_private]})
    assert isinstance(leaked.key, rsa.RSAPublicKey)
    assert not isinstance(leaked.key, rsa.RSAPrivateKey)
    assert isinstance(leaked_ec.key, ec.EllipticCurvePublicKey)
    assert not isinstance(leaked_ec.key, ec.EllipticCurvePrivateKey)
    assert leaked.key.public_numbers() == RSA_KEY.public_key().public_numbers()


def test_encryption_and_symmetric_keys_are_skipped() -> None:
    """RFC 7517 §4.2: only `use: sig` keys verify; `oct` keys never come from a JWKS."""
    document = {
        "keys": [
            rsa_jwk(kid="enc", use="enc"),
            {"kty": "oct", "k": b64url(SECRET), "kid": "oct", "use": "sig", "alg": "HS256"},
            {"kty": "oct", "k": b64url(SECRET), "kid": "oct2"},
            rsa_jwk(kid="ok"),
        ]
    }
    assert kids(parse_jwks(document)) == ["ok"]


def test_unusable_entries_are_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """One bad JWK does not make the whole set unusable."""
    x25519 = {"kty": "OKP", "crv": "X25519", "x": b64url(b"\x09" * 32), "kid": "x"}
    document = {
        "keys": [
            "not an object",
            None,
            {"kty": "XYZ", "kid": "unknown-kty"},
            {"kid": "no-kty"},
            {"kty": "RSA", "n": 123, "e": "AQAB", "kid": "bad-n"},
            {"kty": "EC", "crv": "P-999", "x": "AA", "y": "AA", "kid": "bad-crv"},
            rsa_jwk(kid="alg-mismatch", alg="ES256"),
            x25519,
            rsa_jwk(kid="ok"),
        ]
    }
    with caplog.at_level(logging.WARNING, logger="timesheets.bearer.keys"):
        keys = parse_jwks(document)
    assert kids(keys) == ["ok"]
    assert any(r.message == "skipping unusable JWK" for r in caplog.records)


@pytest.mark.parametrize("document", [{}, {"keys": None}, {"keys": {"kid": "x"}}, {"keys": "x"}])
def test_a_set_without_a_keys_array_is_an_error(document: dict[str, Any]) -> None:
    """RFC 7517 §5.1: "keys" is a REQUIRED array."""
    with pytest.raises(ValueError, match="keys array"):
        parse_jwks(document)


def test_non_string_kid_is_treated_as_absent() -> None:
    """RFC 7517 §4.5: kid is a string; anything else is not used for lookup."""
    assert kids(parse_jwks({"keys": [rsa_jwk(kid=7)]})) == [None]


# --- VerificationKey.accepts (RFC 8725 §3.1) ----------------------------------------


@pytest.mark.parametrize(
    ("key", "accepted"),
    [
        (RSA_PUB, {"RS256", "PS256"}),
        (RSA_SMALL_PUB, set()),
        (EC_PUB, {"ES256"}),
        (EC_P384_PUB, set()),
        (ED_PUB, {"EdDSA"}),
        (HMAC_KEY, {"HS256"}),
    ],
)
def test_each_key_type_accepts_only_its_algorithms(
    key: VerificationKey, accepted: set[str]
) -> None:
    """RFC 8725 §3.1: no algorithm confusion; RFC 7518 §3.3: RSA ≥ 2048 bits."""
    for alg in ("RS256", "PS256", "ES256", "EdDSA", "HS256", "RS512", "ES384", "none"):
        assert key.accepts(alg) is (alg in accepted), (key.kid, alg)


def test_a_keys_alg_pins_it() -> None:
    """RFC 7517 §4.4: a JWK's alg restricts the key to that algorithm."""
    pinned = VerificationKey("r", "RS256", RSA_KEY.public_key())
    assert pinned.accepts("RS256")
    assert not pinned.accepts("PS256")
    assert not VerificationKey("r", "ES256", RSA_KEY.public_key()).accepts("ES256")


# --- verify_signature ------------------------------------------------------------------


def sign(alg: str, key: Any, message: bytes = b"header.payload") -> bytes:
    """A signature made with PyJWT's algorithm implementation."""
    return jwt.get_algorithm_by_name(alg).sign(message, key)


@pytest.mark.parametrize(
    ("alg", "private", "public"),
    [
        ("RS256", RSA_KEY, RSA_PUB),
        ("PS256", RSA_KEY, RSA_PUB),
        ("ES256", EC_KEY, EC_PUB),
        ("EdDSA", ED_KEY, ED_PUB),
        ("HS256", SECRET, HMAC_KEY),
    ],
)
def test_valid_signatures_verify(alg: str, private: Any, public: VerificationKey) -> None:
    """RFC 7515 §5.2 step 8: the signature validates with the key and algorithm."""
    signature = sign(alg, private)
    assert verify_signature(alg, public, b"header.payload", signature)
    assert not verify_signature(alg, public, b"header.payload!", signature)
    assert not verify_signature(alg, public, b"header.payload", signature[:-1])
    assert not verify_signature(alg, public, b"header.payload", b"")


def test_wrong_key_or_wrong_algorithm_does_not_verify() -> None:
    """A signature verifies only with its own key and algorithm family."""
    other = VerificationKey(
        "o", None, rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    )
    rs = sign("RS256", RSA_KEY)
    assert not verify_signature("RS256", other, b"header.payload", rs)
    assert not verify_signature("PS256", RSA_PUB, b"header.payload", rs)
    assert not verify_signature("HS256", RSA_PUB, b"header.payload", rs)
    assert not verify_signature("ES256", HMAC_KEY, b"header.payload", rs)


def test_small_rsa_key_never_verifies() -> None:
    """RFC 7518 §3.3: a key of 2048 bits or larger MUST be used."""
    key = RSA_SMALL
    signature = jwt.get_algorithm_by_name("RS256").sign(b"header.payload", key)
    assert not verify_signature("RS256", RSA_SMALL_PUB, b"header.payload", signature)


def test_der_encoded_ecdsa_signature_does_not_verify() -> None:
    """RFC 7518 §3.4: ES256 signatures are R || S (64 octets), never DER."""
    from cryptography.hazmat.primitives import hashes

    der = EC_KEY.sign(b"header.payload", ec.ECDSA(hashes.SHA256()))
    assert not verify_signature("ES256", EC_PUB, b"header.payload", der)


def test_unsupported_algorithm_is_false_not_an_error() -> None:
    """An algorithm outside the implemented set never raises KeyError."""
    assert not verify_signature("RS512", RSA_PUB, b"header.payload", b"x")
    assert not verify_signature("none", RSA_PUB, b"header.payload", b"")


# --- select_keys and KeySet -----------------------------------------------------------


def test_keys_without_kid_or_sharing_one_are_all_kept() -> None:
    """RFC 7517 §4.5: kid is OPTIONAL, and keys of different kty may share one."""
    ec_jwk = ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    document = {"keys": [rsa_jwk(), rsa_jwk(other), rsa_jwk(kid="k"), ec_jwk | {"kid": "k"}]}
    first, second, named_rsa, named_ec = keys = parse_jwks(document)
    assert kids(keys) == [None, None, "k", "k"]
    assert isinstance(first.key, rsa.RSAPublicKey)
    assert first.key.public_numbers() == RSA_KEY.public_key().public_numbers()
    assert isinstance(second.key, rsa.RSAPublicKey)
    assert second.key.public_numbers() == other.public_key().public_numbers()
    assert isinstance(named_rsa.key, rsa.RSAPublicKey)
    assert isinstance(named_ec.key, ec.EllipticCurvePublicKey)


UNNAMED_RSA = VerificationKey(None, None, RSA_KEY.public_key())
UNNAMED_EC = VerificationKey(None, None, EC_KEY.public_key())
SHARED_RSA = VerificationKey("shared", None, RSA_KEY.public_key())
SHARED_EC = VerificationKey("shared", None, EC_KEY.public_key())
KEYS = (RSA_PUB, UNNAMED_RSA, EC_PUB, SHARED_RSA, SHARED_EC, UNNAMED_EC)


def test_a_kid_selects_the_keys_carrying_it_that_fit_the_algorithm() -> None:
    """RFC 7515 §4.1.4 / RFC 7517 §4.5: the kid names the key; keys of different kty may
    share it, and RFC 8725 §3.1: only a key fitting the token's algorithm is used."""
    assert select_keys(KEYS, "rsa", "RS256") == (RSA_PUB,)
    assert select_keys(KEYS, "ec", "ES256") == (EC_PUB,)
    assert select_keys(KEYS, "shared", "RS256") == (SHARED_RSA,)
    assert select_keys(KEYS, "shared", "ES256") == (SHARED_EC,)
    assert select_keys(KEYS, "rsa", "ES256") == ()
    assert select_keys(KEYS, "rsa", "HS256") == ()
    assert select_keys(KEYS, "ec", "RS256") == ()


def test_a_kid_never_selects_a_key_without_one() -> None:
    """No fallback to another key, nor to a key without kid, when the named one is absent."""
    assert select_keys(KEYS, "missing", "RS256") == ()
    assert select_keys((UNNAMED_RSA,), "missing", "RS256") == ()


def test_a_configured_key_without_kid_matches_any_kid_when_asked() -> None:
    """A configured secret names no kid; it verifies tokens naming one (StaticKeys)."""
    assert select_keys((UNNAMED_RSA,), "any", "RS256", unnamed_match=True) == (UNNAMED_RSA,)
    both = select_keys(KEYS, "rsa", "RS256", unnamed_match=True)
    assert both == (RSA_PUB, UNNAMED_RSA)


def test_without_kid_every_fitting_key_is_a_candidate_in_order() -> None:
    """RFC 7515 §4.1.4: kid is a hint; without it each key of the algorithm may have
    signed the token, tried in the set's order."""
    assert select_keys(KEYS, None, "RS256") == (RSA_PUB, UNNAMED_RSA, SHARED_RSA)
    assert select_keys(KEYS, None, "ES256") == (EC_PUB, SHARED_EC, UNNAMED_EC)
    assert select_keys(KEYS, None, "EdDSA") == ()
    assert select_keys((), None, "RS256") == ()


def test_candidates_are_bounded() -> None:
    """A token is tried against at most MAX_CANDIDATES keys, however many fit."""
    many = [VerificationKey(None, None, RSA_KEY.public_key()) for _ in range(MAX_CANDIDATES + 3)]
    assert select_keys(many, None, "RS256") == tuple(many[:MAX_CANDIDATES])
    same_kid = [VerificationKey("k", None, key.key) for key in many]
    assert select_keys(same_kid, "k", "RS256") == tuple(same_kid[:MAX_CANDIDATES])
    assert KeySet(many).candidates(None, "RS256") == tuple(many[:MAX_CANDIDATES])


def test_a_key_set_hands_out_the_same_candidates_every_time() -> None:
    """The verifier compares remembered keys by identity: one lookup, one tuple."""
    key_set = KeySet(KEYS)
    for kid, alg in [("rsa", "RS256"), (None, "ES256"), ("shared", "ES256")]:
        found = key_set.candidates(kid, alg)
        assert found == select_keys(KEYS, kid, alg)
        assert key_set.candidates(kid, alg) is found
    assert key_set.candidates("missing", "RS256") == ()
    assert key_set.candidates("rsa", "RS512") == ()
    assert KeySet().candidates(None, "RS256") == ()


def test_a_key_set_of_configured_keys_matches_unknown_kids_to_keys_without_one() -> None:
    """With unnamed_match, a kid the set does not know still finds the keys without kid."""
    key_set = KeySet((RSA_PUB, UNNAMED_RSA, HMAC_KEY), unnamed_match=True)
    assert key_set.candidates("other", "RS256") == (UNNAMED_RSA,)
    assert key_set.candidates("rsa", "RS256") == (RSA_PUB, UNNAMED_RSA)
    assert key_set.candidates("other", "HS256") == ()
    assert KeySet((RSA_PUB, UNNAMED_RSA)).candidates("other", "RS256") == ()


@pytest.mark.parametrize("unnamed_match", [False, True])
def test_a_key_set_selects_as_select_keys_does(unnamed_match: bool) -> None:
    """Every kid (known, unknown, none) and algorithm: the same candidates, in order."""
    mixed = (UNNAMED_RSA, *KEYS, HMAC_KEY, VerificationKey(None, "HS256", SECRET), ED_PUB)
    key_set = KeySet(mixed, unnamed_match=unnamed_match)
    for kid in (None, "rsa", "ec", "shared", "hs", "ed", "missing"):
        for alg in ("RS256", "PS256", "ES256", "EdDSA", "HS256", "RS512"):
            expected = select_keys(mixed, kid, alg, unnamed_match=unnamed_match)
            assert key_set.candidates(kid, alg) == expected, (kid, alg)


def test_a_key_set_is_built_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JWKS of many keys is indexed in time proportional to its size."""
    calls: list[str] = []
    accepts = VerificationKey.accepts

    def counted(key: VerificationKey, alg: str) -> bool:
        calls.append(alg)
        return accepts(key, alg)

    monkeypatch.setattr(VerificationKey, "accepts", counted)
    many = [VerificationKey(f"k{i}", None, EC_KEY.public_key()) for i in range(200)]
    key_set = KeySet(many)
    assert key_set.candidates("k7", "ES256") == (many[7],)
    assert len(calls) <= 2 * 5 * len(many)
