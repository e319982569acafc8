"""Uploading batches to `POST /timesheets/upload`, with retries that are safe.

Retries are safe because every item carries its external id: the API stores an item
once and answers "exists" to a repeat. Connection errors, 429 (honouring Retry-After)
and 5xx are retried with exponential backoff and jitter; a 401 or a 403
insufficient_scope gets one new token; a 413 (a body over the API's or a proxy's limit)
sends the batch again in halves; any other 4xx ends the run.

Each batch carries an `X-Request-Id` (`import-<run>-<batch>`, the same on its retries),
which the API returns and writes on its log lines, so a batch can be followed from the
job's log into the API's.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from timesheets.header_numbers import digits
from timesheets.importer.answers import json_object, malformed
from timesheets.importer.errors import ConfigurationError, NotAuthorized, TemporaryFailure
from timesheets.importer.token_cache import TokenProvider
from timesheets.request_id import new_request_id

log = logging.getLogger("timesheets.importer.upload")


class _Retryable(Exception):
    """A failure worth another attempt, with the server's Retry-After if it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _TooLarge(Exception):
    """The API refused the body as too large (413): the batch is sent in smaller parts."""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return min(float(value), 120.0) if digits(value) else None


def _refused_token(response: httpx.Response) -> bool:
    """Whether the API refused the token itself: 401, or 403 insufficient_scope
    (RFC 6750 §3.1), which a token obtained after the grant changed may not meet."""
    if response.status_code == 401:
        return True
    challenge = response.headers.get("www-authenticate", "")
    return response.status_code == 403 and 'error="insufficient_scope"' in challenge


class Uploader:
    """Sends batches and returns the API's per-item results."""

    def __init__(
        self,
        api_url: str,
        http: httpx.Client,
        tokens: TokenProvider,
        *,
        attempts: int = 6,
        max_wait: float = 30.0,
    ) -> None:
        self.url = api_url.rstrip("/") + "/timesheets/upload"
        self.http = http
        self.tokens = tokens
        self.attempts = attempts
        self.max_wait = max_wait
        self.run_id = new_request_id("import-")
        self._batches = itertools.count(1)
        self._backoff = wait_random_exponential(multiplier=0.5, max=max_wait)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return error.retry_after
        return float(self._backoff(state))

    def upload(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Upload one batch, in halves if the API finds its body too large (413), down to
        single entries; raises TemporaryFailure after the last attempt."""
        try:
            return self._upload_once(items)
        except _TooLarge as error:
            if len(items) == 1:
                raise ConfigurationError(f"the API refused an entry: {error}") from None
            half = len(items) // 2
            log.info(
                "the API found the batch too large; sending it in halves",
                extra={"entries": len(items)},
            )
            return self.upload(items[:half]) + self.upload(items[half:])

    def _upload_once(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            wait=self._wait,
            stop=stop_after_attempt(self.attempts),
            reraise=True,
            before_sleep=lambda s: log.warning(
                "upload failed; retrying",
                extra={
                    "attempt": s.attempt_number,
                    "reason": str(s.outcome.exception()) if s.outcome else "",
                },
            ),
        )
        try:
            request_id = f"{self.run_id}-{next(self._batches)}"
            results: list[dict[str, Any]] = retrying(self._send, items, request_id)
        except _Retryable as error:
            raise TemporaryFailure(f"the API did not accept the batch: {error}") from None
        return results

    def _send(self, items: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
        token = self.tokens.token()
        response = self._post(items, token, request_id)
        if _refused_token(response):
            # One new token, not a loop: the cached one may predate a grant added since.
            response = self._post(items, self.tokens.token(replacing=token), request_id)
        if response.status_code == 401:
            raise NotAuthorized("the API refuses the job's token")
        if response.status_code == 403:
            raise NotAuthorized("the job's token lacks the batch:upload scope")
        if response.status_code == 413:
            raise _TooLarge(f"HTTP 413 {response.text[:300]}")
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}", _retry_after(response))
        if response.status_code != 200:
            raise ConfigurationError(
                f"the API refused the batch: HTTP {response.status_code} {response.text[:300]}"
            )
        items_out = (json_object(response) or {}).get("items")
        if (
            not isinstance(items_out, list)
            or len(items_out) != len(items)
            or not all(isinstance(result, dict) for result in items_out)
        ):
            raise TemporaryFailure(malformed(response))
        return items_out

    def _post(self, items: list[dict[str, Any]], token: str, request_id: str) -> httpx.Response:
        try:
            return self.http.post(
                self.url,
                json=items,
                headers={"Authorization": f"Bearer {token}", "X-Request-Id": request_id},
            )
        except httpx.HTTPError as error:
            raise _Retryable(f"connection failed: {error}") from None
