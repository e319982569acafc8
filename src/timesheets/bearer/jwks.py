"""The issuer's keys: found through discovery, fetched from its JWKS, cached, refreshed.

- Keys are fetched once and kept; they are refreshed when older than `max_age`.
- At most one fetch attempt (discovery and JWKS) is in flight, and at most one starts per
  `refetch_cooldown`, failed attempts included and whether or not keys are cached: a flood
  of forged kids, or of any tokens while the issuer is down, cannot flood the issuer
  (in the spirit of RFC 8725 §3.10: received header values are not trusted). Callers
  arriving meanwhile wait for the attempt in flight. The first attempt starts at once, and
  a genuinely new key is found on first sight once the cooldown allows.
- A refresh replaces the whole set, so keys that leave the JWKS stop being accepted.
- The set keeps every key, in the JWKS's order: several without a kid, or several
  sharing one (RFC 7517 §4.5), each verify their tokens. A lookup that finds no
  candidate at all is what counts as an unknown key.
- When the issuer cannot be reached, the cached keys keep working and the outage is logged;
  with nothing cached, lookups raise `KeysUnavailable` without asking the issuer again
  until the cooldown has passed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from timesheets.bearer.keys import KeySet, VerificationKey, parse_jwks
from timesheets.discovery import discovery_urls
from timesheets.metrics import JWKS_REFRESHES

log = logging.getLogger("timesheets.bearer.jwks")


class KeysUnavailable(Exception):
    """No keys could be obtained from the issuer and none are cached; the issuer is asked
    again in `retry_after` seconds at the earliest."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class JwksCache:
    """The verification keys of one issuer."""

    def __init__(
        self,
        issuer: str,
        http: httpx.AsyncClient,
        *,
        jwks_uri: str | None = None,
        refetch_cooldown: float = 10.0,
        max_age: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.http = http
        self.jwks_uri = jwks_uri
        self.refetch_cooldown = refetch_cooldown
        self.max_age = max_age
        self.clock = clock
        self.fetches = 0
        self._keys = KeySet()
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._failure: str | None = None
        self._in_flight: asyncio.Task[None] | None = None

    async def candidates(self, kid: str | None, alg: str) -> tuple[VerificationKey, ...]:
        """The keys for a token's `kid` and `alg`, refetching within the limits above."""
        tried = False
        if self._fetched_at is None or self.clock() - self._fetched_at >= self.max_age:
            tried = await self.refresh()
        keys = self._keys.candidates(kid, alg)
        if not keys and not tried:
            await self.refresh()
            keys = self._keys.candidates(kid, alg)
        if not keys and not self._keys.keys:
            raise self._unavailable()
        return keys

    async def ready(self) -> bool:
        """Whether keys are cached, fetching them (within the cooldown) if none are."""
        if not self._keys.keys:
            await self.refresh()
        return bool(self._keys.keys)

    async def refresh(self) -> bool:
        """Fetch the keys, or wait for the fetch in flight; whether an attempt was seen.

        No attempt starts within `refetch_cooldown` of the last one. A failed attempt keeps
        the cached keys.
        """
        if self._in_flight is None:
            now = self.clock()
            if self._attempted_at is not None and now - self._attempted_at < self.refetch_cooldown:
                return False
            self._attempted_at = now
            self._in_flight = asyncio.create_task(self._attempt())
            self._in_flight.add_done_callback(self._landed)
        # Shielded: a caller that gives up (a client gone) does not cancel the others' fetch.
        await asyncio.shield(self._in_flight)
        return True

    def _landed(self, task: asyncio.Task[None]) -> None:
        if self._in_flight is task:
            self._in_flight = None

    def _unavailable(self) -> KeysUnavailable:
        """Why there are no keys, and when the issuer will next be asked."""
        reason = self._failure or "the issuer's JWKS has no usable keys"
        since = self.clock() - (self._attempted_at or 0.0)
        wait = max(self.refetch_cooldown - since, 0.0)
        return KeysUnavailable(
            f"the issuer's keys are not available ({reason}); next fetch in {wait:.1f} s", wait
        )

    async def _attempt(self) -> None:
        try:
            keys = KeySet(parse_jwks(await self._fetch_jwks()))
        except (httpx.HTTPError, ValueError) as exc:
            self._failure = str(exc) or type(exc).__name__
            JWKS_REFRESHES.labels("failed").inc()
            log.warning(
                "cannot refresh the issuer's keys; keeping the cached ones",
                extra={
                    "issuer": self.issuer,
                    "reason": self._failure,
                    "cached": len(self._keys.keys),
                },
            )
            return
        self._keys = keys
        self._failure = None
        self._fetched_at = self.clock()
        self.fetches += 1
        JWKS_REFRESHES.labels("fetched").inc()
        log.info("fetched the issuer's keys", extra={"issuer": self.issuer, "keys": len(keys.keys)})

    async def _fetch_jwks(self) -> dict[str, Any]:
        if self.jwks_uri is None:
            self.jwks_uri = await self._discover()
        response = await self.http.get(self.jwks_uri)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("the JWKS is not a JSON object")
        return document

    async def _discover(self) -> str:
        for url in discovery_urls(self.issuer):
            response = await self.http.get(url)
            if response.status_code == 404:
                continue
            response.raise_for_status()
            metadata = response.json()
            # RFC 8414 §3.3: the metadata's issuer must be identical to the one configured.
            if not isinstance(metadata, dict) or metadata.get("issuer") != self.issuer:
                raise ValueError("the discovery document names another issuer")
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise ValueError("the discovery document has no jwks_uri")
            return jwks_uri
        raise ValueError("the issuer publishes no discovery document")
