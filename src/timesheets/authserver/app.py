"""The authorization server's application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy.exc import IntegrityError
from starlette.routing import Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from timesheets import db
from timesheets.authserver import admin
from timesheets.authserver.audit import AuditBuffer
from timesheets.authserver.console import router as console_router
from timesheets.authserver.cors import RegisteredOriginsCors
from timesheets.authserver.management import errors as management_errors
from timesheets.authserver.management.router import router as management_router
from timesheets.authserver.routers import discovery, interaction, logout
from timesheets.authserver.routers.token import TokenEndpoint
from timesheets.authserver.routers.token_management import introspect, revoke, userinfo
from timesheets.authserver.runtime import Runtime
from timesheets.authserver.sealing import Sealer, SealError
from timesheets.authserver.shared_throttle import SharedThrottle
from timesheets.fast_lane import FastLane
from timesheets.request_context import RequestContext
from timesheets.settings import AuthServerSettings

MIGRATIONS = Path(__file__).parent / "migrations"

_TOKEN_ERROR = {
    "description": "An OAuth error (RFC 6749 §5.2)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {"type": "string"},
                    "error_description": {"type": "string"},
                },
            }
        }
    },
}
TOKEN_OPERATION: dict[str, Any] = {
    "post": {
        "tags": ["oauth"],
        "summary": "Token endpoint (RFC 6749 §3.2)",
        "operationId": "token",
        "description": "Issues JWT access tokens (RFC 9068). Client authentication by HTTP "
        "Basic or by client_id and client_secret in the body. The body may also be a JSON "
        "object of the same parameters.",
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {
                                "type": "string",
                                "enum": [
                                    "client_credentials",
                                    "authorization_code",
                                    "refresh_token",
                                ],
                            },
                            "audience": {"type": "string"},
                            "resource": {"type": "array", "items": {"type": "string"}},
                            "scope": {"type": "string"},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                            "code": {"type": "string"},
                            "redirect_uri": {"type": "string"},
                            "code_verifier": {"type": "string"},
                            "refresh_token": {"type": "string"},
                        },
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "An access token",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["access_token", "token_type", "expires_in"],
                            "properties": {
                                "access_token": {"type": "string"},
                                "token_type": {"type": "string", "enum": ["Bearer"]},
                                "expires_in": {"type": "integer"},
                                "scope": {"type": "string"},
                                "refresh_token": {"type": "string"},
                                "id_token": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "400": _TOKEN_ERROR,
            "401": _TOKEN_ERROR,
            "429": _TOKEN_ERROR,
        },
    }
}


_MANAGEMENT_ANSWERS = (
    ("400", "invalid_request: a malformed or repeated Authorization header (RFC 6750 §3.1)"),
    ("401", "No valid token (RFC 6750 §3.1)"),
    ("403", "insufficient_scope (RFC 6750 §3.1)"),
)


def document_management_security(schema: dict[str, Any]) -> None:
    """Declare the bearer token every management operation needs, and its 401/403."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token for the audience <issuer>/api/v2/ (RFC 9068).",
    }
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v2/"):
            continue
        for method, operation in operations.items():
            operation["security"] = [{"bearer": []}]
            responses = operation.setdefault("responses", {})
            for status, description in _MANAGEMENT_ANSWERS:
                responses.setdefault(status, {"description": description})
            if "{" in path or method != "get":
                responses.setdefault(
                    "404", {"description": "The resource or one it names is not there"}
                )
            if method in ("post", "patch", "delete"):
                responses.setdefault("409", {"description": "Conflicts with what exists"})
                responses.setdefault("422", {"description": "Invalid input, fields named"})
            if "{" in path and method in ("post", "patch", "delete"):
                responses.setdefault("412", {"description": "If-Match is not the current ETag"})


class WrongKeyEncryptionKey(Exception):
    """The stored signing keys or API secrets do not open with the configured key."""

    def __init__(self) -> None:
        super().__init__(
            "the stored signing keys or API secrets do not open with"
            " TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY: it is not the key they were sealed with"
        )


def create_runtime(settings: AuthServerSettings) -> Runtime:
    """The process state for these settings (no IO yet)."""
    engine = db.create_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
    sessions = db.session_factory(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        sealer=Sealer(settings.key_encryption_key),
        throttle=SharedThrottle(
            sessions,
            "client",
            limit=settings.auth_failure_limit,
            window=settings.auth_failure_window_seconds,
        ),
        login_throttle=SharedThrottle(
            sessions,
            "login",
            limit=settings.login_failure_limit,
            window=settings.login_failure_window_seconds,
        ),
        audit=AuditBuffer(sessions),
    )


async def prepare(runtime: Runtime) -> None:
    """Migrate (or, with migrations turned off, raise `db.NotMigrated` if the database
    lacks some); make sure signing keys and the management API exist, and that they open
    with the configured key-encryption key (else raise `WrongKeyEncryptionKey`)."""
    if runtime.settings.migrate:
        await db.upgrade(runtime.engine, MIGRATIONS)
    else:
        await db.require_migrated(runtime.engine, MIGRATIONS)
    # Checked before anything is made: no key may be sealed with a wrong key.
    try:
        await runtime.apis()
        unopened = (await runtime.keyring()).unopened
    except SealError:
        raise WrongKeyEncryptionKey() from None
    if unopened:
        raise WrongKeyEncryptionKey()
    await runtime.prepare_keys()
    for attempt in range(2):
        try:
            async with runtime.sessions() as session, session.begin():
                await session.connection(execution_options={db.IMMEDIATE: True})
                await admin.ensure_management_api(session, runtime.settings.issuer)
            break
        except IntegrityError:
            if attempt:  # another instance created it at the same moment: use theirs
                raise


def create_app(settings: AuthServerSettings, *, prepare_on_start: bool = True) -> ASGIApp:
    """The authorization server as an ASGI application."""
    runtime = create_runtime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if prepare_on_start:
            await prepare(runtime)
        yield
        await runtime.audit.flush()
        await runtime.engine.dispose()

    app = FastAPI(
        title="Timesheets authorization server",
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.include_router(discovery.router)
    app.include_router(interaction.router)
    app.include_router(logout.router)
    app.include_router(console_router)
    app.include_router(management_router)
    management_errors.install(app)
    token = TokenEndpoint(runtime)
    app.router.routes.append(
        Route("/oauth/token", token, methods=["POST"], include_in_schema=False)
    )
    app.add_route("/oauth/revoke", revoke, methods=["POST"], include_in_schema=False)
    app.add_route("/oauth/introspect", introspect, methods=["POST"], include_in_schema=False)
    app.add_route("/userinfo", userinfo, methods=["GET", "POST"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_middleware(RegisteredOriginsCors, runtime=runtime)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schema["paths"]["/oauth/token"] = TOKEN_OPERATION
            document_management_security(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    lanes = FastLane(
        app,
        {("POST", "/oauth/token"): token},
        wrap=lambda inner: RegisteredOriginsCors(inner, runtime=runtime),
    )
    return RequestContext(lanes, "authserver")
