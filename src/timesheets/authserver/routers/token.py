"""`POST /oauth/token`: a plain Starlette endpoint, kept lean because it is the hot path.

It reads the body itself (bounded), hands it to the pure protocol modules and signs
with the process's cached key; the database is touched only for a cached client lookup.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from timesheets.authserver.oauth.client_auth import presented_credentials, secret_matches
from timesheets.authserver.oauth.errors import (
    InvalidClient,
    InvalidRequest,
    OAuthError,
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
from timesheets.authserver.signing import sign_access_token
from timesheets.authserver.user_tokens import redeem_code, refresh

log = logging.getLogger("timesheets.authserver.token")

SUPPORTED_GRANT_TYPES = (CLIENT_CREDENTIALS, CODE, REFRESH)
# RFC 6749 §5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    content = json.dumps(body, separators=(",", ":")).encode()
    return Response(content, status, {**NO_STORE, **(headers or {})}, "application/json")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise InvalidRequest(f"the request body exceeds {limit} bytes")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise InvalidRequest(f"the request body exceeds {limit} bytes")
    return bytes(chunks)


async def authenticate_client(
    runtime: Runtime, request: Request, params: TokenRequest
) -> ClientView:
    """Authenticate a confidential client (RFC 6749 §2.3.1), throttling repeated failures."""
    authorization = request.headers.get("authorization")
    presented = presented_credentials(authorization, params)
    used_basic = presented.method == "client_secret_basic"
    address = request.client.host if request.client else "unknown"
    keys = (f"client:{presented.client_id}", f"address:{address}")
    clock = runtime.clock()
    wait = max(runtime.throttle.retry_after(key, clock) for key in keys)
    if wait:
        raise TooManyRequests("too many failed client authentications", retry_after=wait)
    client = await runtime.client(presented.client_id)
    reason = None
    if client is None:
        reason = "unknown client"
    elif presented.method != client.auth_method:
        reason = f"client is registered for {client.auth_method}"
    elif presented.method == "none":
        reason = None  # a public client: it proves itself with PKCE, not a secret
    elif presented.secret is None or not secret_matches(
        presented.secret, client.active_digests(runtime.now())
    ):
        reason = "wrong client secret"
    if reason is not None or client is None:
        for key in keys:
            runtime.throttle.record_failure(key, clock)
        log.warning(
            "client authentication failed",
            extra={"client_id": presented.client_id, "reason": reason, "address": address},
        )
        raise InvalidClient("client authentication failed", used_basic=used_basic)
    return client


async def token(request: Request) -> Response:
    """The token endpoint (RFC 6749 §3.2)."""
    runtime: Runtime = request.app.state.runtime
    try:
        raw = await read_body(request, runtime.settings.max_body_bytes)
        params = parse_token_request(request.headers.get("content-type"), raw, request.url.query)
        grant_type = params.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("grant_type is required")
        if grant_type not in SUPPORTED_GRANT_TYPES:
            raise UnsupportedGrantType(f"grant_type {grant_type} is not supported")
        client = await authenticate_client(runtime, request, params)
        body: dict[str, Any]
        if grant_type == CODE:
            body = await redeem_code(runtime, client, params)
        elif grant_type == REFRESH:
            body = await refresh(runtime, client, params)
        else:
            body = await _client_credentials(runtime, client, params)
    except OAuthError as error:
        log.info(
            "token request refused",
            extra={"error": error.error, "description": error.description},
        )
        headers: dict[str, str] = {}
        if isinstance(error, InvalidClient) and error.used_basic:
            headers["WWW-Authenticate"] = 'Basic realm="timesheets", charset="UTF-8"'
        if isinstance(error, TooManyRequests):
            headers["Retry-After"] = str(error.retry_after)
        return json_response(error.status_code, error.body(), headers)
    return json_response(200, body)


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
