"""Verification keys from a JWK set (RFC 7517) and which algorithm each may verify.

RFC 8725 §3.1/§3.2: a key is used only with the algorithm family it belongs to, and RSA
keys are at least 2048 bits (RFC 7518 §3.3).
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.bearer.conftest import b64url
from timesheets.bearer.keys import VerificationKey, parse_jwks, select_key, verify_signature

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


def test_public_jwks_are_parsed_by_kid() -> None:
    """RFC 7517 §5: a JWK set's keys, each found by its kid."""
    document = {
        "keys": [
            rsa_jwk(kid="r", alg="RS256", use="sig"),
            ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True) | {"kid": "e"},
            OKPAlgorithm.to_jwk(ED_KEY.public_key(), as_dict=True) | {"kid": "d"},
        ]
    }
    keys = parse_jwks(document)
    assert set(keys) == {"r", "e", "d"}
    assert isinstance(keys["r"].key, rsa.RSAPublicKey)
    assert keys["r"].alg == "RS256"
    assert keys["r"].kid == "r"
    assert isinstance(keys["e"].key, ec.EllipticCurvePublicKey)
    assert keys["e"].alg is None
    assert isinstance(keys["d"].key, ed25519.Ed25519PublicKey)


def test_private_members_are_dropped() -> None:
    """RFC 7517 §9.2 / RFC 7518 §6.3.2: a published private key is used as a public key only."""
    private = RSAAlgorithm.to_jwk(RSA_KEY, as_dict=True) | {"kid": "leaked"}
    assert "d" in private
    ec_private = ECAlgorithm.to_jwk(EC_KEY, as_dict=True) | {"kid": "leaked-ec"}
    assert "d" in ec_private
    keys = parse_jwks({"keys": [private, ec_private]})
    assert isinstance(keys["leaked"].key, rsa.RSAPublicKey)
    assert not isinstance(keys["leaked"].key, rsa.RSAPrivateKey)
    assert isinstance(keys["leaked-ec"].key, ec.EllipticCurvePublicKey)
    assert not isinstance(keys["leaked-ec"].key, ec.EllipticCurvePrivateKey)
    assert keys["leaked"].key.public_numbers() == RSA_KEY.public_key().public_numbers()


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
    assert set(parse_jwks(document)) == {"ok"}


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
    assert set(keys) == {"ok"}
    assert any(r.message == "skipping unusable JWK" for r in caplog.records)


@pytest.mark.parametrize("document", [{}, {"keys": None}, {"keys": {"kid": "x"}}, {"keys": "x"}])
def test_a_set_without_a_keys_array_is_an_error(document: dict[str, Any]) -> None:
    """RFC 7517 §5.1: "keys" is a REQUIRED array."""
    with pytest.raises(ValueError, match="keys array"):
        parse_jwks(document)


def test_non_string_kid_is_treated_as_absent() -> None:
    """RFC 7517 §4.5: kid is a string; anything else is not used for lookup."""
    keys = parse_jwks({"keys": [rsa_jwk(kid=7)]})
    assert set(keys) == {None}
    assert keys[None].kid is None


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


# --- select_key ------------------------------------------------------------------------


KEYS = {"rsa": RSA_PUB, "ec": EC_PUB}


def test_select_by_kid() -> None:
    """RFC 7515 §4.1.4: the kid names the key."""
    assert select_key(KEYS, "rsa", "RS256") is RSA_PUB
    assert select_key(KEYS, "ec", "ES256") is EC_PUB


def test_kid_with_an_unfitting_algorithm_selects_nothing() -> None:
    """RFC 8725 §3.1: the named key must also fit the token's algorithm."""
    assert select_key(KEYS, "rsa", "ES256") is None
    assert select_key(KEYS, "rsa", "HS256") is None
    assert select_key(KEYS, "ec", "RS256") is None


def test_unknown_kid_selects_nothing() -> None:
    """No fallback to another key when the named one is absent."""
    assert select_key(KEYS, "missing", "RS256") is None
    assert select_key({"rsa": RSA_PUB}, "missing", "RS256") is None


def test_without_kid_only_an_unambiguous_key_is_selected() -> None:
    """RFC 7515 §4.1.4: without kid, use the single key that fits, never guess among many."""
    assert select_key(KEYS, None, "RS256") is RSA_PUB
    assert select_key(KEYS, None, "ES256") is EC_PUB
    assert select_key(KEYS, None, "EdDSA") is None
    two = {"a": RSA_PUB, "b": VerificationKey("b", None, RSA_KEY.public_key())}
    assert select_key(two, None, "RS256") is None
    assert select_key({}, None, "RS256") is None
