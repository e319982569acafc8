"""A test issuer: its own keys, discovery document and JWKS on a loopback port.

It mints tokens with any header and claims, so the resource server can be shown every
kind of bad token, and counts how often its JWKS is fetched.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.live import LiveServer, serve_in_thread

ALL_SCOPES = "read:timesheets create:timesheets delete:timesheets approve:timesheets batch:upload"


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TestIssuer:
    """Signs tokens and publishes its keys."""

    __test__ = False  # a helper, not a test class

    url: str = ""
    audience: str = "https://api.timesheets.test"
    keys: dict[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey] = field(default_factory=dict)
    published: set[str] = field(default_factory=set)
    #: The kid a key is published and signs under, when not its name; None for none
    #: (RFC 7517 §4.5: kid is OPTIONAL, and keys of different kty may share one).
    published_kid: dict[str, str | None] = field(default_factory=dict)
    jwks_fetches: int = 0
    discovery_fetches: int = 0
    #: While set, discovery and the JWKS answer 503 (still counted): an issuer in trouble.
    failing: bool = False
    live: LiveServer | None = None

    def add_key(self, kid: str | None = None, *, publish: bool = True, alg: str = "RS256") -> str:
        """A new key (RSA-2048, or P-256 for ES256); published in the JWKS unless told."""
        kid = kid or secrets.token_hex(8)
        self.keys[kid] = (
            ec.generate_private_key(ec.SECP256R1())
            if alg == "ES256"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        if publish:
            self.published.add(kid)
        return kid

    @property
    def kid(self) -> str:
        """The first key's id."""
        return next(iter(self.keys))

    def jwks(self) -> dict[str, Any]:
        """The published public keys."""
        result = []
        for kid in sorted(self.published):
            key = self.keys[kid]
            if isinstance(key, rsa.RSAPrivateKey):
                jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"alg": "RS256"}
            else:
                jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"alg": "ES256"}
            published_kid = self.published_kid.get(kid, kid)
            result.append(
                jwk | {"use": "sig"} | ({"kid": published_kid} if published_kid is not None else {})
            )
        return {"keys": result}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Valid claims of a machine token with every scope; `None` values remove a claim."""
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "importer@clients",
            "aud": self.audience,
            "client_id": "importer",
            "iat": now,
            "exp": now + 600,
            "jti": secrets.token_hex(8),
            "scope": ALL_SCOPES,
            "gty": "client-credentials",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def person(self, subject: str, scope: str, **overrides: Any) -> str:
        """A token of a person (not a machine) with the given scopes."""
        return self.token(
            self.claims(sub=subject, client_id="spa", gty=None, scope=scope, **overrides)
        )

    def token(
        self,
        claims: dict[str, Any] | None = None,
        *,
        kid: str | None = None,
        headers: dict[str, Any] | None = None,
        alg: str = "RS256",
    ) -> str:
        """A signed token (valid unless the arguments say otherwise), by the key named
        `kid`, with the kid that key is published under (if any)."""
        kid = kid or self.kid
        published_kid = self.published_kid.get(kid, kid)
        header = {"typ": "at+jwt"} | ({"kid": published_kid} if published_kid is not None else {})
        header |= headers or {}
        return jwt.encode(claims or self.claims(), self.keys[kid], alg, headers=header)

    def raw(
        self,
        header: dict[str, Any] | bytes,
        payload: dict[str, Any] | bytes,
        kid: str | None = None,
    ) -> str:
        """A token from a raw header and payload, RS256-signed with a real key."""
        head = header if isinstance(header, bytes) else json.dumps(header).encode()
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        signing_input = f"{b64url(head)}.{b64url(body)}".encode()
        key = self.keys[kid or self.kid]
        assert isinstance(key, rsa.RSAPrivateKey)
        signature = jwt.get_algorithm_by_name("RS256").sign(signing_input, key)
        return f"{signing_input.decode()}.{b64url(signature)}"

    def app(self) -> Starlette:
        """The issuer's discovery and JWKS endpoints."""

        async def discovery(_request: Request) -> JSONResponse:
            self.discovery_fetches += 1
            if self.failing:
                return JSONResponse({"error": "temporarily_unavailable"}, 503)
            return JSONResponse({"issuer": self.url, "jwks_uri": f"{self.url}/jwks"})

        async def jwks(_request: Request) -> JSONResponse:
            self.jwks_fetches += 1
            if self.failing:
                return JSONResponse({"error": "temporarily_unavailable"}, 503)
            return JSONResponse(self.jwks())

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/jwks", jwks),
            ]
        )

    def start(self) -> TestIssuer:
        """Serve on a free loopback port."""
        if not self.keys:
            self.add_key()
        self.live = serve_in_thread(self.app())
        self.url = self.live.url
        return self

    def stop(self) -> None:
        """Stop serving (the API must then live on its cached keys)."""
        if self.live is not None:
            self.live.stop()
