"""Revocation (RFC 7009), introspection (RFC 7662) and UserInfo (OIDC Core §5.3)."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from timesheets import db
from timesheets.authorization_header import single_authorization
from timesheets.authserver import grants
from timesheets.authserver.models import User
from timesheets.authserver.oauth import oidc
from timesheets.authserver.oauth.errors import (
    InvalidClient,
    InvalidRequest,
    OAuthError,
    TooManyRequests,
    UnsupportedTokenType,
)
from timesheets.authserver.oauth.rfc8414 import endpoint
from timesheets.authserver.oauth.tenant import ClientView
from timesheets.authserver.oauth.token_request import (
    FORM,
    media_type,
    parse_form,
    parse_token_request,
)
from timesheets.authserver.own_tokens import (
    access_token_claims,
    refresh_token,
    refresh_token_active,
)
from timesheets.authserver.routers.token import (
    NO_STORE,
    authenticate_client,
    client_address,
    json_response,
    read_body,
)
from timesheets.authserver.runtime import Runtime
from timesheets.bearer.errors import BearerError, InvalidToken
from timesheets.bearer.errors import InvalidRequest as BearerInvalidRequest
from timesheets.bearer.transport import token_from_request

log = logging.getLogger("timesheets.authserver.tokens")


def _error(error: OAuthError) -> Response:
    headers = (
        {"WWW-Authenticate": 'Basic realm="timesheets"'} if isinstance(error, InvalidClient) else {}
    )
    if isinstance(error, TooManyRequests):
        # RFC 6585 §4, RFC 9110 §10.2.3: say how long to wait, as the token endpoint does.
        headers["Retry-After"] = str(error.retry_after)
    return json_response(error.status_code, error.body(), headers)


async def revoke(request: Request) -> Response:
    """Revoke a refresh or access token of the calling client, and its grant (RFC 7009 §2)."""
    runtime: Runtime = request.app.state.runtime
    try:
        raw = await read_body(request, runtime.settings.max_body_bytes)
        params = parse_token_request(request.headers.get("content-type"), raw, request.url.query)
        client = await authenticate_client(
            runtime, request.headers, client_address(request), params
        )
        token = params.get("token")
        if token is None:
            raise InvalidRequest("token is required")
        grant_id = await _grant_to_revoke(runtime, client, token)
    except OAuthError as error:
        log.info(
            "revocation refused", extra={"error": error.error, "description": error.description}
        )
        return _error(error)
    if grant_id is not None:
        async with runtime.sessions() as session, session.begin():
            # The write lock first, as every read-then-write transaction here takes it.
            await session.connection(execution_options={db.IMMEDIATE: True})
            await grants.revoke_grant(session, grant_id, "revoked by the client", runtime.now())
        log.info("grant revoked", extra={"client_id": client.client_id})
    # §2.2: 200 whether or not the token was valid, so nothing leaks.
    return Response(b"", 200, NO_STORE)


async def _grant_to_revoke(runtime: Runtime, client: ClientView, token: str) -> str | None:
    """The grant behind a refresh or access token of `client`; None for any other token.

    A client credentials access token belongs to no grant, so there is nothing to revoke:
    RFC 7009 §2.2.1 answers that with `unsupported_token_type` rather than a false 200.
    """
    record = await refresh_token(runtime, token)
    if record is not None and record.client_id == client.client_id:
        return record.grant_id
    # Only a token signed with our own keys says whose grant it is (an HS256 API's
    # resource server holds its secret and could name anyone's grant).
    claims = await access_token_claims(runtime, token, shared_secrets=False)
    if claims is None or claims.get("client_id") != client.client_id:
        return None
    grant_id = claims.get("grant_id")
    if not isinstance(grant_id, str):
        raise UnsupportedTokenType(
            "a client credentials access token cannot be revoked: it is valid until it expires"
        )
    async with runtime.sessions() as session:
        if not await grants.grant_of(session, grant_id, client.client_id):
            return None
    return grant_id


async def introspect(request: Request) -> Response:
    """Whether a token is active, and what it says (RFC 7662 §2), for authenticated clients."""
    runtime: Runtime = request.app.state.runtime
    try:
        raw = await read_body(request, runtime.settings.max_body_bytes)
        params = parse_token_request(request.headers.get("content-type"), raw, request.url.query)
        client = await authenticate_client(
            runtime, request.headers, client_address(request), params
        )
        if client.auth_method == "none":
            raise InvalidClient("introspection needs client authentication")
        token = params.get("token")
        if token is None:
            raise InvalidRequest("token is required")
    except OAuthError as error:
        log.info(
            "introspection refused", extra={"error": error.error, "description": error.description}
        )
        return _error(error)
    answer: dict[str, Any] = {"active": False}
    record = await refresh_token(runtime, token)
    if record is not None:
        if await refresh_token_active(runtime, record):
            answer = {
                "active": True,
                "token_type": "refresh_token",
                "client_id": record.client_id,
                "sub": record.user_id,
                "scope": " ".join(record.scopes),
                "exp": int(record.expires_at.timestamp()),
                "iss": runtime.settings.issuer,
            }
    else:
        claims = await access_token_claims(runtime, token)
        if claims is not None:
            answer = {"active": True, "token_type": "Bearer"} | {
                k: claims[k]
                for k in ("scope", "client_id", "sub", "exp", "iat", "aud", "iss", "jti")
                if k in claims
            }
    return json_response(200, answer)


async def userinfo(request: Request) -> Response:
    """Claims about the signed-in user (OIDC Core §5.3), for a token with `openid`."""
    runtime: Runtime = request.app.state.runtime
    try:
        # RFC 9110 §11.6.2, RFC 6750 §3.1: a second Authorization header is invalid_request.
        authorization = single_authorization(request.headers, BearerInvalidRequest)
    except BearerError as error:
        return _bearer(error)
    try:
        token = token_from_request(authorization, request.url.query)
    except BearerError as error:
        if request.method == "POST" and authorization is None:
            try:
                value = await _body_token(request, runtime)
            except OAuthError as refused:
                return _bearer(BearerInvalidRequest(refused.description))
            if value is None:
                return _bearer(error)
            token = value
        else:
            return _bearer(error)
    claims = await access_token_claims(
        runtime, token, endpoint(runtime.settings.issuer, "/userinfo")
    )
    if claims is None or "openid" not in str(claims.get("scope", "")).split():
        return _bearer(InvalidToken("the access token is not valid for UserInfo"))
    async with runtime.sessions() as session:
        user: User | None = await session.get(User, claims["sub"])
    if user is None or not user.enabled:
        return _bearer(InvalidToken("the user is gone"))
    scopes = str(claims["scope"]).split()
    body = {"sub": user.id} | oidc.profile_claims(
        scopes, name=user.name, email=user.email, user_type=user.user_type
    )
    return Response(json.dumps(body), 200, NO_STORE, media_type="application/json")


async def _body_token(request: Request, runtime: Runtime) -> str | None:
    """The access token of a form-encoded POST body (RFC 6750 §2.2; OIDC Core §5.3.1).

    Read here, bounded and each parameter once, rather than with `request.form()`, which
    needs python-multipart (not a dependency: it failed with a 500).
    """
    if media_type(request.headers.get("content-type"))[0] != FORM:
        return None
    token = parse_form(await read_body(request, runtime.settings.max_body_bytes)).get(
        "access_token"
    )
    if token is not None and "access_token" in dict(parse_qsl(request.url.query)):
        # RFC 6750 §3.1: more than one method of sending the token is invalid_request.
        raise InvalidRequest("the access token must be sent one way only")
    return token


def _bearer(error: BearerError) -> Response:
    return Response(
        json.dumps(error.body()),
        error.status_code,
        {"WWW-Authenticate": error.challenge(), **NO_STORE},
        media_type="application/json",
    )
