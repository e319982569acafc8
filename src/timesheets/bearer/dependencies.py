"""Using the verifier from web frameworks: a FastAPI dependency and a plain helper.

RFC 6750 §2: a client MUST NOT send its token more than one way in a request, and §3.1
answers one that does with 400 invalid_request, as it does a repeated Authorization header
(`timesheets.authorization_header`). Only the Authorization header is accepted
(`transport`), so with a bearer header an `application/x-www-form-urlencoded` body (§2.2)
holding `access_token` is refused on every method and endpoint, those that ignore their
body (DELETE, GET) included, before the endpoint runs and before the token is verified,
as a token in the query is. The whole form is read, declared or chunked, up to the
caller's limit (the API's body limit); one past it cannot be searched and is refused with
FormTooLarge (413, as the API answers any body past its limit). A form without
`access_token` is kept for the endpoint, which answers as it would any body. Without a
bearer header a form's token counts as none (§2), so nothing is read; other media types
are never read here and cost one header lookup.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from timesheets.authorization_header import single_authorization
from timesheets.bearer.claims import Principal
from timesheets.bearer.errors import BearerError, InsufficientScope, InvalidRequest
from timesheets.bearer.jwks import KeysUnavailable
from timesheets.bearer.transport import token_from_request
from timesheets.bearer.verifier import TokenVerifier
from timesheets.request_body import body_within

log = logging.getLogger("timesheets.bearer")

FORM = "application/x-www-form-urlencoded"
#: Largest form body searched for a second token unless the caller names its own limit.
MAX_FORM_BYTES = 16384


class VerifierUnavailable(Exception):
    """The issuer's keys cannot be had: answer 503, not 401, and `Retry-After` the whole
    seconds until the issuer is asked again (at least 1)."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = max(1, math.ceil(retry_after))


class FormTooLarge(Exception):
    """A form body beside a bearer header exceeds `limit` bytes, so whether it carries a
    second token cannot be known: answer 413 without running the endpoint."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body exceeds {limit} bytes")
        self.limit = limit


async def authenticate(
    connection: HTTPConnection,
    verifier: TokenVerifier,
    scope: str | None,
    *,
    form_limit: int = MAX_FORM_BYTES,
) -> Principal:
    """The caller of a request, holding `scope` if one is required; a form body of up to
    `form_limit` bytes is searched for a second token (FormTooLarge beyond)."""
    query = connection.scope.get("query_string", b"").decode("latin-1")  # as URL.query has it
    # RFC 9110 §11.6.2, RFC 6750 §3.1: a second Authorization header is invalid_request.
    authorization = single_authorization(connection.headers, InvalidRequest)
    token = token_from_request(authorization, query)
    if await _token_in_form_body(connection, form_limit):
        # RFC 6750 §2, §3.1: a token sent more than one way is invalid_request.
        raise InvalidRequest("the token must be sent in the Authorization header only")
    return await principal_of(token, verifier, scope)


async def principal_of(token: str, verifier: TokenVerifier, scope: str | None) -> Principal:
    """The caller a bearer token names, holding `scope` if one is required."""
    try:
        principal = await verifier.verify(token)
    except KeysUnavailable as exc:
        raise VerifierUnavailable(str(exc), exc.retry_after) from exc
    if scope is not None and scope not in principal.scopes:
        raise InsufficientScope(f"the {scope} scope is required", scope=scope)
    return principal


async def _token_in_form_body(connection: HTTPConnection, limit: int) -> bool:
    """Whether a form-encoded body (RFC 6750 §2.2) carries `access_token`, on any method.

    The body, declared or chunked, is read up to `limit` bytes (FormTooLarge beyond) and
    kept for the endpoint as `Request.body()` keeps it. Other media types are not read.
    """
    if not isinstance(connection, Request):
        return False
    media_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        return False
    body = await body_within(connection, limit)
    if body is None:
        raise FormTooLarge(limit)
    # Starlette replays a body it has kept (`Request.stream`), so the endpoint reads it too.
    connection._body = body
    return any(name == b"access_token" for name, _ in parse_qsl(body, keep_blank_values=True))


def bearer_error_response(error: BearerError) -> Response:
    """The RFC 6750 response for a refused request."""
    return Response(
        json.dumps(error.body()),
        error.status_code,
        {"WWW-Authenticate": error.challenge(), "Cache-Control": "no-store"},
        media_type="application/json",
    )


def require_scope(scope: str | None) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the caller, who must hold `scope`.

    The verifier is read from `request.app.state.verifier`, the largest form body searched
    for a second token from `request.app.state.max_form_bytes`.
    """

    async def dependency(request: Request) -> Principal:
        state = request.app.state
        principal = await authenticate(
            request, state.verifier, scope, form_limit=state.max_form_bytes
        )
        request.state.principal = principal
        return principal

    return dependency
