"""Using the verifier from web frameworks: a FastAPI dependency and a plain helper."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from timesheets.bearer.claims import Principal
from timesheets.bearer.errors import BearerError, InsufficientScope, InvalidRequest
from timesheets.bearer.jwks import KeysUnavailable
from timesheets.bearer.transport import token_from_request
from timesheets.bearer.verifier import TokenVerifier
from timesheets.header_numbers import digits

log = logging.getLogger("timesheets.bearer")

FORM = "application/x-www-form-urlencoded"
#: Largest form body searched for a second token (a JWT is at most 8 KiB).
MAX_FORM_BYTES = 16384


class VerifierUnavailable(Exception):
    """The issuer's keys cannot be had: answer 503, not 401."""


async def authenticate(
    connection: HTTPConnection, verifier: TokenVerifier, scope: str | None
) -> Principal:
    """The caller of a request, holding `scope` if one is required."""
    query = connection.scope.get("query_string", b"").decode("latin-1")  # as URL.query has it
    token = token_from_request(connection.headers.get("authorization"), query)
    if await _token_in_form_body(connection):
        raise InvalidRequest("the token must be sent in the Authorization header only")
    return await principal_of(token, verifier, scope)


async def principal_of(token: str, verifier: TokenVerifier, scope: str | None) -> Principal:
    """The caller a bearer token names, holding `scope` if one is required."""
    try:
        principal = await verifier.verify(token)
    except KeysUnavailable as exc:
        raise VerifierUnavailable(str(exc)) from exc
    if scope is not None and scope not in principal.scopes:
        raise InsufficientScope(f"the {scope} scope is required", scope=scope)
    return principal


async def _token_in_form_body(connection: HTTPConnection) -> bool:
    """Whether a form-encoded body also carries `access_token` (RFC 6750 §2.2, §3.1: a
    token sent two ways is invalid_request).

    Only a body of declared length up to MAX_FORM_BYTES is read; Starlette keeps it for the
    endpoint. A larger or chunked form is not searched: no endpoint accepts a form (415).
    """
    if not isinstance(connection, Request) or connection.method in ("GET", "HEAD"):
        return False
    media_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = connection.headers.get("content-length", "")
    if media_type != FORM or not digits(declared) or int(declared) > MAX_FORM_BYTES:
        return False
    body = await connection.body()
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

    The verifier is read from `request.app.state.verifier`.
    """

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request, request.app.state.verifier, scope)
        request.state.principal = principal
        return principal

    return dependency
