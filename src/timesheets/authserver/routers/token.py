"""`POST /oauth/token`: a bare ASGI endpoint, kept lean because it is the hot path.

It reads the body itself (bounded), hands it to the pure protocol modules and signs
with the process's cached key; the database is touched only for a cached client lookup.
It builds no framework request or response objects: on two cores those cost about a
sixth of what a token costs, when signing it costs about half.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from timesheets.authorization_header import single_authorization
from timesheets.authserver import audit
from timesheets.authserver.oauth.client_auth import (
    method_allowed,
    presented_credentials,
    secret_matches,
)
from timesheets.authserver.oauth.errors import (
    InvalidClient,
    InvalidRequest,
    OAuthError,
    ServerError,
    TooManyRequests,
    UnsupportedGrantType,
)
from timesheets.authserver.oauth.rfc6749_authorization_code import GRANT_TYPE as CODE
from timesheets.authserver.oauth.rfc6749_client_credentials import GRANT_TYPE as CLIENT_CREDENTIALS
from timesheets.authserver.oauth.rfc6749_client_credentials import client_credentials
from timesheets.authserver.oauth.rfc6749_refresh import GRANT_TYPE as REFRESH
from timesheets.authserver.oauth.rfc9068 import access_token_claims, machine_subject
from timesheets.authserver.oauth.tenant import ClientView
from timesheets.authserver.oauth.token_request import TokenRequest, parse_token_request
from timesheets.authserver.runtime import Runtime
from timesheets.authserver.sealing import SealError
from timesheets.authserver.signing import report_unopened, sign_access_token
from timesheets.authserver.user_tokens import redeem_code, refresh
from timesheets.header_numbers import declared_over
from timesheets.metrics import AUTHENTICATION_FAILURES, TOKENS_ISSUED, child

log = logging.getLogger("timesheets.authserver.token")

SUPPORTED_GRANT_TYPES = (CLIENT_CREDENTIALS, CODE, REFRESH)
# RFC 6749 §5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
RAW_NO_STORE = [(name.lower().encode(), value.encode()) for name, value in NO_STORE.items()]


def json_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    content = orjson.dumps(body)
    return Response(content, status, {**NO_STORE, **(headers or {})}, "application/json")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared_over(declared, limit):
        raise InvalidRequest(f"the request body exceeds {limit} bytes")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise InvalidRequest(f"the request body exceeds {limit} bytes")
    return bytes(chunks)


def client_address(request: Request) -> str:
    """The peer's address, for throttling and logs."""
    return request.client.host if request.client else "unknown"


async def authenticate_client(
    runtime: Runtime,
    headers: Headers | Iterable[tuple[bytes, bytes]],
    address: str,
    params: TokenRequest,
) -> ClientView:
    """Authenticate a confidential client (RFC 6749 §2.3.1) by the request's headers and
    parameters, throttling repeated failures."""
    # RFC 9110 §11.6.2; RFC 6749 §2.3, §5.2: two Authorization headers are more than one
    # authentication method, invalid_request, refused before anything is looked up.
    authorization = single_authorization(headers, InvalidRequest)
    presented = presented_credentials(authorization, params)
    used_basic = presented.method == "client_secret_basic"
    keys = (f"client:{presented.client_id}", f"address:{address}")
    clock = runtime.clock()
    wait = max([await runtime.throttle.retry_after(key, clock) for key in keys])
    if wait:
        AUTHENTICATION_FAILURES.labels("throttled").inc()
        _audit_failure(runtime, presented.client_id, "throttled", address)
        raise TooManyRequests("too many failed client authentications", retry_after=wait)
    client = await runtime.client(presented.client_id)
    reason = None
    kind = ""
    if client is None:
        reason, kind = "unknown client", "unknown_client"
    elif not method_allowed(client.auth_method, presented.method):
        reason, kind = f"client is registered for {client.auth_method}", "wrong_method"
    elif presented.method == "none":
        reason = None  # a public client: it proves itself with PKCE, not a secret
    elif presented.secret is None or not secret_matches(
        presented.secret, client.active_digests(runtime.now())
    ):
        reason, kind = "wrong client secret", "wrong_secret"
    if reason is not None or client is None:
        AUTHENTICATION_FAILURES.labels(kind or "unknown_client").inc()
        _audit_failure(runtime, presented.client_id, kind or "unknown_client", address)
        for key in keys:
            await runtime.throttle.record_failure(key, clock)
        log.warning(
            "client authentication failed",
            extra={"client_id": presented.client_id, "reason": reason, "address": address},
        )
        raise InvalidClient("client authentication failed", used_basic=used_basic)
    return client


def _printable(value: str) -> str:
    return value if value.isascii() and value.isprintable() else repr(value)[:200]


def _audit_failure(runtime: Runtime, client_id: str, reason: str, address: str) -> None:
    client = _printable(client_id)
    runtime.audit.emit(
        audit.Event(
            "client_auth.failed",
            client,
            "failure",
            {"reason": reason},
            address=address,
            actor=f"client:{client}",
        )
    )


def _audit_issued(
    runtime: Runtime,
    grant_type: str,
    client_id: str,
    params: TokenRequest,
    body: dict[str, Any],
    address: str,
) -> None:
    details = {
        "grant_type": grant_type,
        "audience": params.get("audience") or list(params.resources),
        "scope": body.get("scope"),
    }
    actor = f"client:{client_id}"
    if grant_type == "client_credentials":
        runtime.audit.tally("token.issued", client_id, actor, details)
    else:
        runtime.audit.emit(
            audit.Event("token.issued", client_id, details=details, address=address, actor=actor)
        )


class TokenEndpoint:
    """The token endpoint (RFC 6749 §3.2) as an ASGI application."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value.decode("latin-1"))  # the first, as Starlette reads
        status, body, extra = await self.answer(scope, headers, receive)
        content = orjson.dumps(body)
        response_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
            *RAW_NO_STORE,
            *((name.lower().encode(), value.encode()) for name, value in extra.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": content})

    async def answer(
        self, scope: Scope, headers: dict[bytes, str], receive: Receive
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """The status, JSON body and extra headers of the answer."""
        runtime = self.runtime
        try:
            raw = await _read_asgi_body(receive, headers, runtime.settings.max_body_bytes)
            params = parse_token_request(
                headers.get(b"content-type"), raw, scope["query_string"].decode("latin-1")
            )
            grant_type = params.get("grant_type")
            if grant_type is None:
                raise InvalidRequest("grant_type is required")
            if grant_type not in SUPPORTED_GRANT_TYPES:
                raise UnsupportedGrantType(f"grant_type {grant_type} is not supported")
            address = scope["client"][0] if scope.get("client") else "unknown"
            client = await authenticate_client(runtime, scope["headers"], address, params)
            if grant_type == CODE:
                body = await redeem_code(runtime, client, params)
            elif grant_type == REFRESH:
                body = await refresh(runtime, client, params)
            else:
                body = await _client_credentials(runtime, client, params)
            child(TOKENS_ISSUED, grant_type, client.client_id).inc()
            _audit_issued(runtime, grant_type, client.client_id, params, body, address)
            return 200, body, {}
        except OAuthError as error:
            log.info(
                "token request refused",
                extra={"error": error.error, "description": error.description},
            )
            extra: dict[str, str] = {}
            if isinstance(error, InvalidClient) and error.used_basic:
                extra["WWW-Authenticate"] = 'Basic realm="timesheets", charset="UTF-8"'
            if isinstance(error, TooManyRequests):
                extra["Retry-After"] = str(error.retry_after)
            return error.status_code, error.body(), extra
        except SealError as error:
            report_unopened(log, error)
            refusal = ServerError("the server cannot sign tokens now; try again later")
            return refusal.status_code, refusal.body(), {}


async def _read_asgi_body(receive: Receive, headers: dict[bytes, str], limit: int) -> bytes:
    declared = headers.get(b"content-length")
    if declared_over(declared, limit):
        raise InvalidRequest(f"the request body exceeds {limit} bytes")
    chunks = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequest("the client went away before the body was complete")
        chunks += message.get("body", b"")
        if len(chunks) > limit:
            raise InvalidRequest(f"the request body exceeds {limit} bytes")
        if not message.get("more_body", False):
            return bytes(chunks)


async def _client_credentials(
    runtime: Runtime, client: ClientView, params: TokenRequest
) -> dict[str, Any]:
    """Issue a machine token (RFC 6749 §4.4)."""
    issuance = client_credentials(client, params, (await runtime.apis()).get)
    api = issuance.apis[0]
    claims = access_token_claims(
        issuer=runtime.settings.issuer,
        subject=machine_subject(client.client_id),
        client_id=client.client_id,
        audiences=issuance.audiences,
        scopes=issuance.scopes,
        issued_at=int(runtime.now().timestamp()),
        lifetime=issuance.lifetime,
        jti=secrets.token_urlsafe(16),
        extra={"gty": "client-credentials"}
        | ({"permissions": list(issuance.scopes)} if api.permissions_claim else {}),
    )
    return {
        "access_token": await sign_access_token(runtime, api, claims),
        "token_type": "Bearer",
        "expires_in": issuance.lifetime,
        "scope": claims["scope"],
    }
