"""Fixtures and helpers for the bearer-token verifier tests.

A real loopback issuer (tests/issuer.py) publishes discovery and a JWKS and counts its
fetches; a fake monotonic clock drives the JWKS cache's cooldown and max-age, so cache
behaviour is tested without sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.issuer import TestIssuer as Issuer
from timesheets.bearer.claims import ClaimRules
from timesheets.bearer.jwks import JwksCache
from timesheets.bearer.verifier import KeySource, TokenVerifier

RSA_KID = "rsa-1"
# One TLS context for every client: building one per client costs ~0.1 s.
TLS = ssl.create_default_context()
EC_KID = "ec-1"
SPARE_KIDS = ("rsa-2", "rsa-3")


def b64url(data: bytes) -> str:
    """Canonical unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any] | bytes | Any) -> str:
    """A JWS segment from JSON-serialisable data or raw bytes."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return b64url(raw)


def forge(header: Any, payload: Any, signature: bytes = b"\x01" * 256) -> str:
    """A compact JWS with an arbitrary (not verifying) signature."""
    return f"{segment(header)}.{segment(payload)}.{b64url(signature)}"


def hs256(header: Any, payload: Any, secret: bytes) -> str:
    """A compact JWS HMAC-SHA256-signed by hand (PyJWT refuses PEM and short secrets)."""
    signing_input = f"{segment(header)}.{segment(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


class FakeClock:
    """A monotonic clock that only moves when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


@dataclass
class Setup:
    """A verifier wired to an issuer's JWKS through a cache on a fake clock."""

    verifier: TokenVerifier
    cache: JwksCache
    issuer: Issuer
    clock: FakeClock

    async def load(self) -> None:
        """Verify one valid token so the keys are cached (discovery + one JWKS fetch)."""
        await self.verifier.verify(self.issuer.token())

    def fetches(self) -> tuple[int, int]:
        """(discovery fetches, JWKS fetches) the issuer has served."""
        return self.issuer.discovery_fetches, self.issuer.jwks_fetches


@pytest.fixture(scope="session")
def key_pool() -> dict[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey]:
    """Keys generated once: RSA-2048 keys (the first and spares) and a P-256 key."""
    return {
        RSA_KID: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        EC_KID: ec.generate_private_key(ec.SECP256R1()),
        **{
            kid: rsa.generate_private_key(public_exponent=65537, key_size=2048)
            for kid in SPARE_KIDS
        },
    }


def publish(test_issuer: Issuer, pool: dict[str, Any], kid: str) -> str:
    """Give the issuer a pre-generated key and publish it (like `add_key`, but fast)."""
    test_issuer.keys[kid] = pool[kid]
    test_issuer.published.add(kid)
    return kid


def _start(pool: dict[str, Any], *kids: str) -> Issuer:
    test_issuer = Issuer(keys={kid: pool[kid] for kid in kids})
    test_issuer.published.update(kids)
    return test_issuer.start()


@pytest.fixture(scope="session")
def shared_issuer(key_pool: dict[str, Any]) -> Iterator[Issuer]:
    """A running issuer (RSA key first, then a P-256 key) that tests must not modify."""
    test_issuer = _start(key_pool, RSA_KID, EC_KID)
    yield test_issuer
    test_issuer.stop()


@pytest.fixture
def issuer(key_pool: dict[str, Any]) -> Iterator[Issuer]:
    """A fresh running issuer with one RSA key, for tests that change or stop it."""
    test_issuer = _start(key_pool, RSA_KID)
    yield test_issuer
    test_issuer.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP client the JWKS cache uses."""
    async with httpx.AsyncClient(timeout=5, verify=TLS) as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    """The JWKS cache's clock."""
    return FakeClock()


def build_setup(
    test_issuer: Issuer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    *,
    algorithms: frozenset[str] = frozenset({"RS256"}),
    refetch_cooldown: float = 10.0,
    max_age: float = 300.0,
    keys: KeySource | None = None,
    now: Callable[[], float] | None = None,
    **rules: Any,
) -> Setup:
    """A verifier for the issuer: its JWKS through a cache on `clock`, or `keys`."""
    cache = JwksCache(
        test_issuer.url, http, refetch_cooldown=refetch_cooldown, max_age=max_age, clock=clock
    )
    claim_rules = ClaimRules(issuer=test_issuer.url, audience=test_issuer.audience, **rules)
    extra = {"clock": now} if now is not None else {}
    verifier = TokenVerifier(claim_rules, algorithms, keys or cache, **extra)
    return Setup(verifier, cache, test_issuer, clock)


MakeSetup = Callable[..., Setup]


@pytest.fixture
def make_setup(http: httpx.AsyncClient, clock: FakeClock) -> MakeSetup:
    """Build a verifier for an issuer: `make_setup(issuer, algorithms=..., **rules)`."""

    def make(test_issuer: Issuer, **options: Any) -> Setup:
        return build_setup(test_issuer, http, clock, **options)

    return make
