"""The job's access token: found through discovery, obtained with the client credentials
grant, cached on disk (mode 0600) until shortly before it expires and shared by runs."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx

from timesheets.discovery import discovery_urls
from timesheets.importer.answers import json_object, malformed
from timesheets.importer.config import ImportConfig
from timesheets.importer.errors import ConfigurationError, NotAuthorized, TemporaryFailure

log = logging.getLogger("timesheets.importer.token")
EXPIRY_MARGIN = 60  # seconds before expiry at which a cached token is no longer used


class TokenProvider:
    """Gets, caches and renews the job's access token."""

    def __init__(self, config: ImportConfig, http: httpx.Client, cache: Path) -> None:
        self.config = config
        self.http = http
        self.cache = cache
        self.requests = 0
        self._lock = threading.Lock()  # uploads run on several threads

    def _cache_key(self) -> dict[str, str]:
        return {
            "issuer": self.config.issuer,
            "audience": self.config.audience,
            "client_id": self.config.client_id,
        }

    def _read_cache(self) -> str | None:
        try:
            document = json.loads(self.cache.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("ignoring an unreadable token cache", extra={"reason": str(error)})
            return None
        try:
            if any(document.get(k) != v for k, v in self._cache_key().items()):
                return None
            expires_at = float(document.get("expires_at", 0))
        except (AttributeError, TypeError, ValueError) as error:
            log.warning("ignoring a malformed token cache", extra={"reason": str(error)})
            return None
        if expires_at - EXPIRY_MARGIN <= time.time():
            return None
        token = document.get("access_token")
        return token if isinstance(token, str) else None

    def _write_cache(self, token: str, expires_in: float) -> None:
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.cache.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(
                {
                    **self._cache_key(),
                    "access_token": token,
                    "expires_at": time.time() + expires_in,
                },
                handle,
            )
        os.replace(temporary, self.cache)

    def token(self, *, replacing: str | None = None) -> str:
        """A valid access token: the cached one, unless it is `replacing` (a token the API
        refused). Batches that meet the same refused token share one new one: only the
        first asks the token endpoint."""
        with self._lock:
            cached = self._read_cache()
            if cached is not None and cached != replacing:
                return cached
            return self._request()

    def _token_endpoint(self) -> str:
        for url in discovery_urls(self.config.issuer):
            response = self._get(url)
            if response.status_code == 404:
                continue
            if response.status_code != 200:
                raise TemporaryFailure(f"discovery at {url} answered {response.status_code}")
            metadata = json_object(response)
            if metadata is None:
                raise TemporaryFailure(malformed(response))
            if metadata.get("issuer") != self.config.issuer:
                raise ConfigurationError(
                    f"{url} describes another issuer: {metadata.get('issuer')}"
                )
            endpoint = metadata.get("token_endpoint")
            if not isinstance(endpoint, str):
                raise ConfigurationError(f"{url} names no token_endpoint")
            return endpoint
        raise ConfigurationError(f"{self.config.issuer} publishes no discovery document")

    def _get(self, url: str) -> httpx.Response:
        try:
            return self.http.get(url)
        except httpx.HTTPError as error:
            raise TemporaryFailure(f"the authorization server is unreachable: {error}") from None

    def _request(self) -> str:
        endpoint = self._token_endpoint()
        form: dict[str, str] = {
            "grant_type": "client_credentials",
            "audience": self.config.audience,
        }
        auth: tuple[str, str] | None = None
        if self.config.auth_method == "client_secret_basic":
            # RFC 6749 §2.3.1: both are form-urlencoded before they are joined for Basic.
            auth = (quote_plus(self.config.client_id), quote_plus(self.config.client_secret))
        else:
            form |= {"client_id": self.config.client_id, "client_secret": self.config.client_secret}
        try:
            response = self.http.post(endpoint, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as error:
            raise TemporaryFailure(f"the token endpoint is unreachable: {error}") from None
        self.requests += 1
        body = json_object(response) or {}
        if response.status_code == 200:
            token, lifetime = body.get("access_token"), _lifetime(body)
            if not isinstance(token, str) or lifetime is None:
                raise TemporaryFailure(malformed(response))
            _require_bearer(body.get("token_type"), response)
            self._write_cache(token, lifetime)
            log.info("obtained an access token", extra={"expires_in": lifetime})
            return token
        if response.status_code in (400, 401, 403):
            code = body.get("error", response.status_code)
            raise NotAuthorized(f"the token endpoint refused the client: {code}")
        raise TemporaryFailure(f"the token endpoint answered {response.status_code}")


def _lifetime(body: dict[str, Any]) -> float | None:
    """The token's lifetime in seconds (RFC 6749 §5.1 `expires_in`, RECOMMENDED: five
    minutes when absent), or None when it is not a positive number."""
    value = body.get("expires_in", 300)
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _require_bearer(token_type: object, response: httpx.Response) -> None:
    """RFC 6749 §7.1: a client MUST NOT use a token whose type it does not understand; the
    job sends bearer tokens (RFC 6750), and the type is matched case-insensitively."""
    if not isinstance(token_type, str):
        raise TemporaryFailure(f"{malformed(response)}: no token_type")
    if token_type.lower() != "bearer":
        raise ConfigurationError(
            f"{response.request.url} issued a token of type {token_type!r}; the job uses only "
            "bearer tokens: configure the client for them"
        )
