"""Using the verifier from web frameworks: a FastAPI dependency and a plain helper."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from timesheets.bearer.claims import Principal
from timesheets.bearer.errors import BearerError, InsufficientScope
from timesheets.bearer.jwks import KeysUnavailable
from timesheets.bearer.transport import token_from_request
from timesheets.bearer.verifier import TokenVerifier

log = logging.getLogger("timesheets.bearer")


class VerifierUnavailable(Exception):
    """The issuer's keys cannot be had: answer 503, not 401."""


async def authenticate(
    connection: HTTPConnection, verifier: TokenVerifier, scope: str | None
) -> Principal:
    """The caller of a request, holding `scope` if one is required."""
    token = token_from_request(connection.headers.get("authorization"), connection.url.query)
    try:
        principal = await verifier.verify(token)
    except KeysUnavailable as exc:
        raise VerifierUnavailable(str(exc)) from exc
    if scope is not None and scope not in principal.scopes:
        raise InsufficientScope(f"the {scope} scope is required", scope=scope)
    return principal


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
