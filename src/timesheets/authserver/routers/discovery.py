"""Discovery (RFC 8414, OpenID Connect Discovery), the JWKS and the health check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import SQLAlchemyError

from timesheets import db
from timesheets.authserver.keys import SIGNING_ALGS
from timesheets.authserver.oauth.client_auth import AUTH_METHODS
from timesheets.authserver.oauth.rfc8414 import metadata
from timesheets.authserver.routers.token import SUPPORTED_GRANT_TYPES
from timesheets.authserver.runtime import Runtime
from timesheets.authserver.sealing import SealError
from timesheets.readiness import readiness

router = APIRouter(tags=["discovery"])


async def _metadata(request: Request) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    apis = await runtime.apis()
    return metadata(
        runtime.settings.issuer,
        grant_types=(*SUPPORTED_GRANT_TYPES, "implicit"),
        auth_methods=AUTH_METHODS,
        signing_algs=SIGNING_ALGS,
        scopes=tuple(sorted({s for api in apis.values() for s in api.scopes})),
    )


@router.get("/.well-known/oauth-authorization-server", summary="Server metadata (RFC 8414)")
async def oauth_metadata(request: Request) -> dict[str, Any]:
    """What this authorization server supports, per RFC 8414 §2."""
    return await _metadata(request)


@router.get("/.well-known/openid-configuration", summary="Discovery document")
async def openid_configuration(request: Request) -> dict[str, Any]:
    """The same metadata at the OpenID Connect discovery location."""
    return await _metadata(request)


@router.get(
    "/.well-known/jwks.json",
    summary="Public signing keys",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
async def jwks(request: Request) -> Response:
    """The published public keys (RFC 7517): current, next and not yet retired previous."""
    runtime: Runtime = request.app.state.runtime
    ring = await runtime.keyring()
    headers = {"Cache-Control": f"public, max-age={int(runtime.settings.key_cache_seconds)}"}
    return Response(ring.jwks, 200, headers, media_type="application/json")


@router.get("/healthz", summary="Liveness", tags=["operations"])
async def healthz() -> dict[str, str]:
    """200 once the server can serve."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and signing keys are loaded",
    tags=["operations"],
    responses={503: {"description": "Not ready; `Retry-After` says when to ask again"}},
)
async def readyz(request: Request) -> Response:
    """200 when the database answers and every current signing key is loaded, else 503
    (also when a key does not open with this process's key-encryption key)."""
    runtime: Runtime = request.app.state.runtime
    database = await db.reachable(runtime.engine)
    keys = False
    if database:
        try:
            ring = await runtime.keyring()
            keys = bool(ring.signers) and not ring.unopened
        except (OSError, SQLAlchemyError, ValueError, SealError):
            keys = False
    return readiness({"database": database, "keys": keys})
