"""Signing keys: generation, JWKS, and the rotation lifecycle (next, current, previous, retired).

Each algorithm keeps a `next` key that is published in the JWKS before it ever signs.
Rotation promotes `next` to `current`, keeps the old `current` published as `previous`
until every token it signed has expired, then it is `retired` and leaves the JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ASYMMETRIC_ALGS = ("RS256", "PS256", "ES256", "EdDSA")
SIGNING_ALGS = (*ASYMMETRIC_ALGS, "HS256")
RSA_BITS = 2048

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
KeyState = Literal["next", "current", "previous", "retired"]


def generate_private_key(alg: str) -> PrivateKey:
    """A new private key for an asymmetric JWS algorithm."""
    if alg in ("RS256", "PS256"):
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"no key pairs for {alg}")


def private_key_bytes(key: PrivateKey) -> bytes:
    """PKCS#8 DER of a private key (sealed before it is stored)."""
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(der: bytes) -> PrivateKey:
    """A private key from PKCS#8 DER."""
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise ValueError("unsupported key type")
    return key


def public_jwk(key: PrivateKey, alg: str, kid: str) -> dict[str, Any]:
    """The public JWK of a key pair, with `kid`, `alg` and `use: sig` (no private members,
    no `key_ops`)."""
    public = key.public_key()
    jwk: dict[str, Any]
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return published_jwk(jwk)


def published_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    """A JWK as published: `use: sig` without `key_ops`, which RFC 7517 §4.3 says SHOULD
    NOT be used together (PyJWT adds `key_ops` to RSA keys; keys stored before carry it)."""
    return {name: value for name, value in jwk.items() if name != "key_ops"}


def new_kid() -> str:
    """A random key id."""
    return secrets.token_urlsafe(12)


def secret_kid(secret: bytes) -> str:
    """The key id of an HS256 API's secret (RFC 7515 §4.1.4): stable, new with a new
    secret, and an HMAC keyed with the secret itself, so it tells no more about the
    secret than any token signed with it does."""
    tag = hmac.new(secret, b"timesheets:hs256-kid", hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(tag).decode()


@dataclass(frozen=True)
class KeyRecord:
    """The lifecycle timestamps of one stored key."""

    kid: str
    alg: str
    created_at: datetime
    activated_at: datetime | None
    deactivated_at: datetime | None
    retire_at: datetime | None
    #: The longest token lifetime (seconds) in force while the key could sign.
    longest_lifetime: int = 0

    def state(self, now: datetime) -> KeyState:
        """The key's state at `now`."""
        if self.activated_at is None:
            return "next"
        if self.deactivated_at is None:
            return "current"
        if self.retire_at is not None and now >= self.retire_at:
            return "retired"
        return "previous"

    def published(self, now: datetime) -> bool:
        """Whether the key is in the JWKS at `now`."""
        return self.state(now) != "retired"


def current_key(records: Iterable[KeyRecord], alg: str) -> KeyRecord | None:
    """The key that signs for `alg`: the most recently activated current one."""
    current = [r for r in records if r.alg == alg and r.activated_at and not r.deactivated_at]
    return max(current, key=lambda r: r.activated_at or r.created_at, default=None)


class RotationRefused(Exception):
    """A rotation that would mean nothing or could break tokens; the message says why,
    `field` names the input at fault (`alg`) or the one that overrides it (`force`)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Rotation:
    """The changes one rotation makes for an algorithm."""

    promote: str
    demote: str
    retire_at: datetime
    create_next: bool


def plan_rotation(
    records: Iterable[KeyRecord],
    alg: str,
    now: datetime,
    publish_for: timedelta,
    margin: timedelta = timedelta(0),
    min_published: timedelta = timedelta(0),
) -> Rotation:
    """Promote the published `next` key, demote `current`, and ask for a new `next`.

    The next key must have been published for `min_published` at least: verifiers cache
    the JWKS and look for an unknown kid at most once per cooldown, so a key that signs
    before they can have fetched it makes them refuse valid tokens. `RotationRefused` when
    it has not, or when the algorithm has no current or no next key.

    The demoted key stays published so that every token it signed still verifies: for
    `publish_for` (today's longest token lifetime plus a margin), or for the longest
    lifetime it may have signed with plus `margin` if that is longer (a lifetime may have
    been shortened since).
    """
    mine = [r for r in records if r.alg == alg]
    current = current_key(mine, alg)
    if current is None:
        raise RotationRefused(f"no {alg} key signs yet, there is nothing to rotate", "alg")
    pending = [r for r in mine if r.state(now) == "next"]
    if not pending:
        raise RotationRefused(f"no next {alg} key is published, there is nothing to promote", "alg")
    promote = min(pending, key=lambda r: r.created_at)
    published = now - promote.created_at
    if published < min_published:
        wait = math.ceil((min_published - published).total_seconds())
        raise RotationRefused(
            f"the next {alg} key {promote.kid} was published {int(published.total_seconds())} s"
            f" ago: resource servers may not have fetched it yet and would refuse its tokens;"
            f" rotate in {wait} s, or force the rotation",
            "force",
        )
    signed_for = timedelta(seconds=current.longest_lifetime) + margin
    return Rotation(
        promote=promote.kid,
        demote=current.kid,
        retire_at=now + max(publish_for, signed_for),
        create_next=True,
    )
