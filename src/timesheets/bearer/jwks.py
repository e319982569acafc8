"""The issuer's keys: found through discovery, fetched from its JWKS, cached, refreshed.

- Keys are fetched once and kept; they are refreshed when older than `max_age`.
- A token with an unknown `kid` causes at most one refetch per `refetch_cooldown`, so a
  flood of forged kids cannot flood the issuer; a genuinely new key is found at once.
- A refresh replaces the whole set, so keys that leave the JWKS stop being accepted.
- When the issuer cannot be reached, the cached keys keep working and the outage is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from timesheets.bearer.keys import VerificationKey, parse_jwks, select_key
from timesheets.discovery import discovery_urls
from timesheets.metrics import JWKS_REFRESHES

log = logging.getLogger("timesheets.bearer.jwks")


class KeysUnavailable(Exception):
    """No keys could be obtained from the issuer and none are cached."""


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
        self._keys: dict[str | None, VerificationKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None, alg: str) -> VerificationKey | None:
        """The key for a token's `kid` and `alg`, refetching within the limits above."""
        now = self.clock()
        if self._fetched_at is None or now - self._fetched_at >= self.max_age:
            await self.refresh(force=self._fetched_at is None)
        key = select_key(self._keys, kid, alg)
        if key is None and self._may_refetch(self.clock()):
            await self.refresh(force=False)
            key = select_key(self._keys, kid, alg)
        if not self._keys:
            raise KeysUnavailable("the issuer's keys are not available")
        return key

    async def ready(self) -> bool:
        """Whether keys are cached, fetching them once (within the cooldown) if none are."""
        if not self._keys:
            try:
                await self.refresh(force=self._fetched_at is None)
            except KeysUnavailable:
                return False
        return bool(self._keys)

    def _may_refetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self.refetch_cooldown

    async def refresh(self, *, force: bool) -> None:
        """Fetch the JWKS (once for concurrent callers); keep the old keys on failure."""
        attempted = self._attempted_at
        async with self._lock:
            if self._attempted_at != attempted or (force and self._fetched_at is not None):
                return  # another request refreshed while this one waited
            if not force and not self._may_refetch(self.clock()):
                return
            self._attempted_at = self.clock()
            try:
                keys = parse_jwks(await self._fetch_jwks())
            except (httpx.HTTPError, ValueError) as exc:
                JWKS_REFRESHES.labels("failed").inc()
                log.warning(
                    "cannot refresh the issuer's keys; keeping the cached ones",
                    extra={"issuer": self.issuer, "reason": str(exc), "cached": len(self._keys)},
                )
                if not self._keys:
                    raise KeysUnavailable(str(exc)) from exc
                return
            self._keys = keys
            self._fetched_at = self.clock()
            self.fetches += 1
            JWKS_REFRESHES.labels("fetched").inc()
            log.info("fetched the issuer's keys", extra={"issuer": self.issuer, "keys": len(keys)})

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
