"""Verifying an access token: strict parsing, key selection, signature, then claims."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from timesheets.bearer.claims import ClaimRules, Principal, check_claims, check_typ
from timesheets.bearer.errors import InvalidToken
from timesheets.bearer.jws import parse_compact
from timesheets.bearer.keys import VerificationKey, verify_signature


class KeySource(Protocol):
    """Where verification keys come from (a JWKS cache, or a configured secret)."""

    async def key(self, kid: str | None, alg: str) -> VerificationKey | None:
        """The key for a token's `kid` and `alg`, or None."""

    async def ready(self) -> bool:
        """Whether keys are at hand (fetching them once if none are)."""


class StaticKeys:
    """Keys fixed by configuration, such as an HS256 API's shared secret."""

    def __init__(self, *keys: VerificationKey) -> None:
        self.keys = keys

    async def ready(self) -> bool:
        """Configured keys are always at hand."""
        return bool(self.keys)

    async def key(self, kid: str | None, alg: str) -> VerificationKey | None:
        """The configured key that accepts `alg` (and matches `kid` when both have one)."""
        for key in self.keys:
            if key.accepts(alg) and (kid is None or key.kid is None or key.kid == kid):
                return key
        return None


class TokenVerifier:
    """Turns a bearer token into a Principal or raises InvalidToken."""

    def __init__(
        self,
        rules: ClaimRules,
        algorithms: frozenset[str],
        keys: KeySource,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if "none" in {a.lower() for a in algorithms}:
            raise ValueError("the none algorithm is never accepted")
        self.rules = rules
        self.algorithms = algorithms
        self.keys = keys
        self.clock = clock

    async def verify(self, token: str) -> Principal:
        """Verify the token; raises InvalidToken (or KeysUnavailable) when it cannot."""
        jws = parse_compact(token, self.algorithms)
        check_typ(jws.header, self.rules)
        key = await self.keys.key(jws.kid, jws.alg)
        if key is None:
            raise InvalidToken("the token is signed with an unknown key")
        if not verify_signature(jws.alg, key, jws.signing_input, jws.signature):
            raise InvalidToken("the token signature is invalid")
        return check_claims(jws.payload, self.rules, self.clock())
