"""Verifying an access token: strict parsing, key selection, signature, then claims.

A token is tried against its candidate keys in order (a few at most, see
`MAX_CANDIDATES`) until one verifies it.

A client sends the same token with every call until it expires (the import job, a
signed-in person's web app), so the verifier remembers the tokens whose signature it
has checked, up to `VERIFIED_TOKENS`, least recently used first out. A remembered token
skips the signature check, and only while its key source still offers the very key
object that verified it among the token's candidates: a key that left the issuer's
JWKS, or a refreshed key set, makes the token go through the whole check again. Its
times (`exp`, `iat`, `nbf`) are checked on every call; the claims that cannot change
with time (issuer, audience, identifiers, scopes, lifetime) are kept as first checked.
A token that failed any check is never remembered.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from timesheets.bearer.claims import (
    ClaimRules,
    Principal,
    Times,
    check_claims,
    check_times,
    check_typ,
    token_times,
)
from timesheets.bearer.errors import InvalidToken
from timesheets.bearer.jws import CompactJws, parse_compact
from timesheets.bearer.keys import KeySet, VerificationKey, verify_signature

VERIFIED_TOKENS = 4096


class KeySource(Protocol):
    """Where verification keys come from (a JWKS cache, or a configured secret)."""

    async def candidates(self, kid: str | None, alg: str) -> tuple[VerificationKey, ...]:
        """The keys a token naming `kid` and `alg` is tried against, in order (maybe none);
        the same key objects until the keys change."""

    async def ready(self) -> bool:
        """Whether keys are at hand (fetching them once if none are)."""


class StaticKeys:
    """Keys fixed by configuration, such as an HS256 API's shared secret."""

    def __init__(self, *keys: VerificationKey) -> None:
        self.key_set = KeySet(keys, unnamed_match=True)

    async def ready(self) -> bool:
        """Configured keys are always at hand."""
        return bool(self.key_set.keys)

    async def candidates(self, kid: str | None, alg: str) -> tuple[VerificationKey, ...]:
        """The configured keys that accept `alg` (and match `kid` when both have one)."""
        return self.key_set.candidates(kid, alg)


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
        self._verified: OrderedDict[str, tuple[CompactJws, VerificationKey, Principal, Times]] = (
            OrderedDict()
        )

    async def verify(self, token: str) -> Principal:
        """Verify the token; raises InvalidToken (or KeysUnavailable) when it cannot."""
        remembered = self._verified.get(token)
        if remembered is not None:
            jws, verified_by, principal, times = remembered
            # The key lookup may wait (a JWKS refresh); other requests may change the
            # cache meanwhile, so it is looked at again, never assumed. By identity: an
            # equal key from a refreshed set has not verified this token.
            candidates = await self.keys.candidates(jws.kid, jws.alg)
            if any(candidate is verified_by for candidate in candidates):
                if token in self._verified:
                    self._verified.move_to_end(token)
                # Issuer, audience, identifiers and lifetime do not change with time.
                check_times(times, self.rules, self.clock())
                return Principal(
                    principal.subject, principal.client_id, principal.scopes, dict(jws.payload)
                )
            self._verified.pop(token, None)
        jws = parse_compact(token, self.algorithms)
        check_typ(jws.header, self.rules)
        candidates = await self.keys.candidates(jws.kid, jws.alg)
        if not candidates:
            raise InvalidToken("the token is signed with an unknown key")
        for key in candidates:
            if verify_signature(jws.alg, key, jws.signing_input, jws.signature):
                break
        else:
            raise InvalidToken("the token signature is invalid")
        principal = check_claims(dict(jws.payload), self.rules, self.clock())
        self._remember(token, jws, key, principal)
        return principal

    def _remember(
        self, token: str, jws: CompactJws, key: VerificationKey, principal: Principal
    ) -> None:
        self._verified[token] = (jws, key, principal, token_times(principal.claims))
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)
