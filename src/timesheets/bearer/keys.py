"""Verification keys: a JWK set parsed into `cryptography` public keys, the keys a token
may have been signed with, and signature checks."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
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
# The most keys one token is tried against. RFC 7515 §4.1.4 makes `kid` OPTIONAL, so a
# token without one may have been signed by any key of its algorithm; four cover a
# current, a next and a retiring key with one to spare, while a forged token costs at
# most four signature checks, whatever the size of the set (RFC 8725 §3.10 spirit: what
# a token says does not decide how much work it gets).
MAX_CANDIDATES = 4


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


def parse_jwks(document: Mapping[str, Any]) -> tuple[VerificationKey, ...]:
    """Signature keys of a JWK set in its order; unusable keys are skipped and logged.

    All are kept, those without a kid and those sharing one included (RFC 7517 §4.5).
    """
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ValueError("a JWK set needs a keys array")
    parsed: list[VerificationKey] = []
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
            parsed.append(VerificationKey(kid, alg, key))
    return tuple(parsed)


def verify_signature(
    alg: str, key: VerificationKey, signing_input: bytes, signature: bytes
) -> bool:
    """Whether `signature` over `signing_input` is valid for `key` under `alg`."""
    if not key.accepts(alg):
        return False
    return bool(_ALGORITHMS[alg].verify(signing_input, key.key, signature))


def select_keys(
    keys: Sequence[VerificationKey], kid: str | None, alg: str, *, unnamed_match: bool = False
) -> tuple[VerificationKey, ...]:
    """The keys, in order and at most MAX_CANDIDATES, a token naming `kid` and `alg` is
    tried against: those that accept `alg` and, when the token names a kid, carry it.

    RFC 7517 §4.5: keys may share a kid (of different key types) or have none. A token
    without kid may be tried against any key (RFC 7515 §4.1.4: kid is a hint). A token
    naming a kid never matches a key without one, unless `unnamed_match` (a configured
    secret, which names no kid).
    """
    found = (
        key
        for key in keys
        if (kid is None or key.kid == kid or (unnamed_match and key.kid is None))
        and key.accepts(alg)
    )
    return tuple(islice(found, MAX_CANDIDATES))


class KeySet:
    """Keys in their published order, with each (kid, alg)'s candidates worked out once,
    so a lookup is one dict access and hands out the same tuple until the set changes.

    The same selection as `select_keys`, built in one pass over the keys (a large JWKS
    costs time in proportion to its size, not to its size squared).
    """

    def __init__(self, keys: Iterable[VerificationKey] = (), *, unnamed_match: bool = False):
        self.keys = tuple(keys)
        unnamed: list[VerificationKey] = []
        groups: dict[str | None, list[VerificationKey]] = {None: list(self.keys)}
        for key in self.keys:
            if key.kid is not None:
                groups.setdefault(key.kid, list(unnamed)).append(key)
            elif unnamed_match:
                unnamed.append(key)
                for kid, group in groups.items():
                    if kid is not None:
                        group.append(key)
        self._candidates = {
            (kid, alg): select_keys(group, None, alg)
            for kid, group in groups.items()
            for alg in _ALGORITHMS
        }
        self._other_kids = {alg: select_keys(unnamed, None, alg) for alg in _ALGORITHMS}

    def candidates(self, kid: str | None, alg: str) -> tuple[VerificationKey, ...]:
        """The keys a token naming `kid` (or none) and `alg` is tried against, in order."""
        found = self._candidates.get((kid, alg))
        return self._other_kids.get(alg, ()) if found is None else found
