"""The Timesheets API's application factory."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from timesheets import db
from timesheets.api.context import ApiContext
from timesheets.api.create_lane import CreateLane
from timesheets.api.errors import UNAVAILABLE, ApiError, keys_unavailable
from timesheets.api.openapi import add_write_paths, require_bearer
from timesheets.api.routers import reads
from timesheets.api.routers.body import too_large
from timesheets.api.routers.writes import create_timesheet, upload_timesheets
from timesheets.api.writer import GroupCommitWriter, StoreUnavailable
from timesheets.bearer.claims import ClaimRules
from timesheets.bearer.dependencies import (
    FormTooLarge,
    VerifierUnavailable,
    bearer_error_response,
)
from timesheets.bearer.errors import BearerError
from timesheets.bearer.jwks import JwksCache
from timesheets.bearer.keys import VerificationKey
from timesheets.bearer.verifier import KeySource, StaticKeys, TokenVerifier
from timesheets.fast_lane import FastLane, with_handlers
from timesheets.readiness import readiness
from timesheets.request_context import RequestContext
from timesheets.settings import ApiSettings

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("timesheets.api")


class _Keys:
    """HS256 from the configured secret, everything else from the issuer's JWKS."""

    def __init__(self, static: StaticKeys | None, jwks: JwksCache | None) -> None:
        self.static = static
        self.jwks = jwks

    async def candidates(self, kid: str | None, alg: str) -> tuple[VerificationKey, ...]:
        if alg == "HS256":
            return await self.static.candidates(kid, alg) if self.static else ()
        return await self.jwks.candidates(kid, alg) if self.jwks else ()

    async def ready(self) -> bool:
        return all(
            [not self.static or await self.static.ready(), not self.jwks or await self.jwks.ready()]
        )


def create_verifier(settings: ApiSettings, http: httpx.AsyncClient) -> TokenVerifier:
    """The token verifier these settings describe."""
    static = (
        StaticKeys(VerificationKey(None, "HS256", settings.hs256_secret.encode()))
        if "HS256" in settings.algorithms
        else None
    )
    asymmetric = set(settings.algorithms) - {"HS256"}
    jwks = (
        JwksCache(
            settings.issuer,
            http,
            refetch_cooldown=settings.jwks_refetch_seconds,
            max_age=settings.jwks_max_age_seconds,
        )
        if asymmetric
        else None
    )
    keys: KeySource = _Keys(static, jwks)
    rules = ClaimRules(
        issuer=settings.issuer,
        audience=settings.audience,
        leeway=settings.leeway_seconds,
        max_lifetime=settings.max_token_lifetime,
        accept_jwt_typ=settings.accept_jwt_typ,
    )
    return TokenVerifier(rules, frozenset(settings.algorithms), keys)


def create_context(settings: ApiSettings) -> ApiContext:
    """The process state for these settings (no IO yet)."""
    engine = db.create_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
    http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False)
    return ApiContext(
        settings=settings,
        engine=engine,
        writer=GroupCommitWriter(engine, max_batch=settings.write_batch_max),
        verifier=create_verifier(settings, http),
        http=http,
    )


async def migrate(settings: ApiSettings) -> None:
    """Apply pending migrations to the API's database."""
    await _on_database(settings, db.upgrade)


async def require_migrated(settings: ApiSettings) -> None:
    """Raise `db.NotMigrated` unless the API's database has every revision of this release."""
    await _on_database(settings, db.require_migrated)


async def _on_database(
    settings: ApiSettings, step: Callable[[AsyncEngine, Path], Awaitable[None]]
) -> None:
    """Run a migration step on the API's database through an engine of its own."""
    engine = db.create_engine(settings.database_url)
    try:
        await step(engine, MIGRATIONS)
    finally:
        await engine.dispose()


def _handlers(app: FastAPI) -> None:
    async def bearer(_request: Request, error: Exception) -> Response:
        assert isinstance(error, BearerError)
        log.info("request refused", extra={"status": error.status_code, "error": error.error})
        return bearer_error_response(error)

    async def api_error(_request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        if error.status >= 500:
            log.warning("request failed", extra={"status": error.status, "reason": error.message})
        return error.response()

    async def form_too_large(_request: Request, error: Exception) -> Response:
        assert isinstance(error, FormTooLarge)
        log.info("request refused", extra={"status": 413, "reason": str(error)})
        return too_large(error.limit).response()

    async def unavailable(_request: Request, error: Exception) -> Response:
        log.warning("dependency unavailable", extra={"reason": str(error)})
        if isinstance(error, VerifierUnavailable):
            return keys_unavailable(error.retry_after).response()
        return UNAVAILABLE.response()

    async def validation(_request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        errors = [
            {
                "field": ".".join(str(p) for p in item["loc"][1:]) or str(item["loc"][0]),
                "message": str(item["msg"]),
            }
            for item in error.errors()
        ]
        body = json.dumps({"message": "Invalid request", "errors": errors})
        return Response(body, 422, media_type="application/json")

    app.add_exception_handler(BearerError, bearer)
    app.add_exception_handler(FormTooLarge, form_too_large)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StoreUnavailable, unavailable)
    # The database went away under a read (connection refused, reset, or the server
    # shutting down): a 503 the client may retry, never a 500.
    app.add_exception_handler(DBAPIError, unavailable)
    app.add_exception_handler(OSError, unavailable)
    app.add_exception_handler(VerifierUnavailable, unavailable)
    app.add_exception_handler(RequestValidationError, validation)


def create_app(settings: ApiSettings, *, migrate_on_start: bool | None = None) -> ASGIApp:
    """The Timesheets API as an ASGI application."""
    context = create_context(settings)
    should_migrate = settings.migrate if migrate_on_start is None else migrate_on_start

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if should_migrate:
            await db.upgrade(context.engine, MIGRATIONS)
        yield
        await context.writer.close()
        await context.http.aclose()
        await context.engine.dispose()

    app = FastAPI(title="Timesheets API", version="1", lifespan=lifespan, redoc_url=None)
    app.state.context = context
    app.state.verifier = context.verifier
    app.state.max_form_bytes = settings.max_body_bytes
    _handlers(app)
    app.add_route("/timesheets", create_timesheet, methods=["POST"], include_in_schema=False)
    app.add_route("/timesheet", create_timesheet, methods=["POST"], include_in_schema=False)
    app.add_route(
        "/timesheets/upload", upload_timesheets, methods=["POST"], include_in_schema=False
    )
    app.include_router(reads.router)

    @app.get("/healthz", tags=["operations"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: the database answers and the issuer's keys are at hand",
        responses={503: {"description": "Not ready; `Retry-After` says when to ask again"}},
    )
    async def readyz() -> Response:
        checks = {
            "database": await db.reachable(context.engine),
            "keys": await context.verifier.keys.ready(),
        }
        return readiness(checks)

    def cors(inner: ASGIApp) -> ASGIApp:
        if not settings.cors_origins:
            return inner
        return CORSMiddleware(
            inner,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["X-Total-Count", "Location", "WWW-Authenticate"],
            max_age=600,
        )

    if settings.cors_origins:
        app.add_middleware(cors)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            add_write_paths(schema)
            require_bearer(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    create, upload = with_handlers(app, create_timesheet), with_handlers(app, upload_timesheets)
    writes = {
        ("POST", "/timesheets"): create,
        ("POST", "/timesheet"): create,
        ("POST", "/timesheets/upload"): upload,
    }
    full = RequestContext(FastLane(app, writes, wrap=cors), "api")
    return CreateLane(full, app, context, "api", vary_origin=bool(settings.cors_origins))
