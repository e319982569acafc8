"""Verification keys: a JWK set parsed into `cryptography` public keys, and signature checks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import Algorithm

log = logging.getLogger("timesheets.bearer.keys")

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_ALGORITHMS: dict[str, Algorithm] = {
    name: jwt.get_algorithm_by_name(name) for name in ("RS256", "PS256", "ES256", "EdDSA", "HS256")
}


@dataclass(frozen=True)
class VerificationKey:
    """One key and the algorithm it may verify."""

    kid: str | None
    alg: str | None
    key: PublicKey | bytes

    def accepts(self, alg: str) -> bool:
        """Whether this key may verify a signature made with `alg` (by key type and `alg`)."""
        if self.alg is not None and self.alg != alg:
            return False
        if alg in ("RS256", "PS256"):
            return isinstance(self.key, rsa.RSAPublicKey) and self.key.key_size >= 2048
        if alg == "ES256":
            return isinstance(self.key, ec.EllipticCurvePublicKey) and isinstance(
                self.key.curve, ec.SECP256R1
            )
        if alg == "EdDSA":
            return isinstance(self.key, ed25519.Ed25519PublicKey)
        if alg == "HS256":
            return isinstance(self.key, bytes)
        return False


def parse_jwks(document: Mapping[str, Any]) -> dict[str | None, VerificationKey]:
    """Signature keys of a JWK set by kid; unusable keys are skipped and logged."""
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ValueError("a JWK set needs a keys array")
    parsed: dict[str | None, VerificationKey] = {}
    for jwk in keys:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig" or jwk.get("kty") == "oct":
            continue
        public = {k: v for k, v in jwk.items() if k not in PRIVATE_MEMBERS}
        try:
            key = jwt.PyJWK(public).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            log.warning("skipping unusable JWK", extra={"kid": jwk.get("kid"), "reason": str(exc)})
            continue
        if isinstance(key, PublicKey):
            kid = jwk.get("kid") if isinstance(jwk.get("kid"), str) else None
            alg = jwk.get("alg") if isinstance(jwk.get("alg"), str) else None
            parsed[kid] = VerificationKey(kid, alg, key)
    return parsed


def verify_signature(
    alg: str, key: VerificationKey, signing_input: bytes, signature: bytes
) -> bool:
    """Whether `signature` over `signing_input` is valid for `key` under `alg`."""
    if not key.accepts(alg):
        return False
    return bool(_ALGORITHMS[alg].verify(signing_input, key.key, signature))


def select_key(
    keys: Mapping[str | None, VerificationKey], kid: str | None, alg: str
) -> VerificationKey | None:
    """The key a token names, or the only key for its algorithm when it names none."""
    if kid is not None:
        key = keys.get(kid)
        return key if key is not None and key.accepts(alg) else None
    candidates = [key for key in keys.values() if key.accepts(alg)]
    return candidates[0] if len(candidates) == 1 else None
