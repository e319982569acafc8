"""Tokens for people: redeeming codes, refreshing with rotation, and what they contain.

A replayed code or a reused refresh token revokes its whole grant (RFC 6749 §4.1.2,
RFC 9700 §4.14.2): the refresh tokens die at once, and introspection answers inactive.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import audit, grants, people
from timesheets.authserver.models import User
from timesheets.authserver.oauth import oidc, rfc6749_authorization_code, rfc6749_refresh
from timesheets.authserver.oauth.errors import InvalidGrant, InvalidRequest, UnauthorizedClient
from timesheets.authserver.oauth.rfc8414 import endpoint
from timesheets.authserver.oauth.rfc8707 import resolve_targets
from timesheets.authserver.oauth.rfc9068 import access_token_claims
from timesheets.authserver.oauth.scope import parse_scope
from timesheets.authserver.oauth.tenant import ApiView, ClientView
from timesheets.authserver.oauth.token_request import TokenRequest
from timesheets.authserver.oauth.user_scopes import still_allowed
from timesheets.authserver.runtime import Runtime
from timesheets.authserver.signing import require_keys_open, sign_access_token, sign_id_token
from timesheets.db import IMMEDIATE


@dataclass(frozen=True)
class Issue:
    """What to put in a person's tokens."""

    client: ClientView
    user: User
    grant_id: str
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    auth_time: datetime
    nonce: str | None = None
    family_started: datetime | None = None
    granted: tuple[str, ...] | None = None
    """The grant's scopes, kept by the new refresh token (RFC 6749 §6: identical to the
    refreshed one's), when the access token asked for fewer; None: `scopes`."""


def _lifetimes(runtime: Runtime) -> grants.RefreshLifetimes:
    settings = runtime.settings
    return grants.RefreshLifetimes(
        timedelta(seconds=settings.refresh_absolute_seconds),
        timedelta(seconds=settings.refresh_idle_seconds),
    )


async def issue_tokens(runtime: Runtime, issue: Issue) -> dict[str, Any]:
    """The token response: access token, refresh token (offline_access), ID token (openid)."""
    settings = runtime.settings
    apis = await runtime.apis()
    targets: tuple[ApiView, ...] = (
        resolve_targets(issue.audiences, apis.get) if issue.audiences else ()
    )
    now = runtime.now()
    issued_at = int(now.timestamp())
    lifetime = min([settings.user_token_seconds, *(api.token_lifetime for api in targets)])
    audiences = list(issue.audiences)
    extra: dict[str, Any] = {"grant_id": issue.grant_id, "user_type": issue.user.user_type}
    async with runtime.sessions() as session:
        permitted = await people.user_permissions(session, issue.user.id)
    if targets and targets[0].permissions_claim:
        extra["permissions"] = sorted(permitted.get(targets[0].identifier, frozenset()))
    scopes = still_allowed(issue.scopes, issue.client, targets, permitted)
    if targets:
        extra |= oidc.api_identity_claims(scopes, name=issue.user.name)
    if "openid" in scopes:
        audiences.append(endpoint(settings.issuer, "/userinfo"))
    claims = access_token_claims(
        issuer=settings.issuer,
        subject=issue.user.id,
        client_id=issue.client.client_id,
        audiences=tuple(audiences),
        scopes=scopes,
        issued_at=issued_at,
        lifetime=lifetime,
        jti=secrets.token_urlsafe(16),
        extra=extra,
    )
    signing_api = targets[0] if targets else ApiView("", "", "RS256", lifetime, frozenset())
    response: dict[str, Any] = {
        "access_token": await sign_access_token(runtime, signing_api, claims),
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": " ".join(scopes),
    }
    granted = issue.scopes if issue.granted is None else issue.granted
    if "offline_access" in granted and "refresh_token" in issue.client.grant_types:
        async with runtime.sessions() as session, session.begin():
            response["refresh_token"] = await grants.issue_refresh_token(
                session,
                grant_id=issue.grant_id,
                client_id=issue.client.client_id,
                user_id=issue.user.id,
                scopes=list(granted),
                audiences=list(issue.audiences),
                auth_time=issue.auth_time,
                now=now,
                lifetimes=_lifetimes(runtime),
                family_started=issue.family_started,
            )
    if "openid" in scopes:
        profile = oidc.profile_claims(
            scopes,
            name=issue.user.name,
            email=issue.user.email,
            user_type=issue.user.user_type,
        )
        response["id_token"] = await sign_id_token(
            runtime,
            oidc.id_token_claims(
                issuer=settings.issuer,
                subject=issue.user.id,
                client_id=issue.client.client_id,
                issued_at=issued_at,
                lifetime=settings.id_token_seconds,
                auth_time=int(issue.auth_time.timestamp()),
                nonce=issue.nonce,
                profile=profile,
                access_token=response["access_token"],
            ),
        )
    return response


async def _enabled_user(runtime: Runtime, user_id: str) -> User:
    async with runtime.sessions() as session:
        user: User | None = await session.get(User, user_id)
    if user is None or not user.enabled:
        raise InvalidGrant("the user is disabled")
    return user


async def _single_use(session: AsyncSession) -> None:
    """Begin a transaction that reads a code or refresh token and then marks it used.

    On SQLite, take the write lock up front (BEGIN IMMEDIATE): a deferred transaction that
    has read cannot upgrade to a writer while another writes, and fails at once with
    "database is locked" (a 500) instead of waiting. Concurrent redemptions now queue.
    """
    await session.connection(execution_options={IMMEDIATE: True})


def _audit_revoked(runtime: Runtime, kind: str, client: ClientView, grant_id: str) -> None:
    """A replayed code or reused refresh token: the grant is revoked (RFC 9700 §4.14.2)."""
    runtime.audit.emit(
        audit.Event(
            kind,
            grant_id,
            "failure",
            {"client_id": client.client_id, "grant_revoked": True},
            actor=f"client:{client.client_id}",
        )
    )


async def redeem_code(
    runtime: Runtime, client: ClientView, request: TokenRequest
) -> dict[str, Any]:
    """The authorization_code grant: single use; a replay revokes the grant."""
    if rfc6749_authorization_code.GRANT_TYPE not in client.grant_types:
        raise UnauthorizedClient("this client may not use the authorization_code grant")
    code = request.get("code")
    if code is None:
        raise InvalidRequest("code is required")
    await require_keys_open(runtime)
    now = runtime.now()
    async with runtime.sessions() as session, session.begin():
        await _single_use(session)
        record, consumed = await grants.consume_code(session, code, now)
        if record is not None and not consumed:
            await grants.revoke_grant(session, record.grant_id, "authorization code replayed", now)
        # RFC 6749 §4.1.2: of concurrent redemptions exactly one succeeds. The grant is
        # checked before this transaction commits: a replay waits for the code's row (or
        # SQLite's write lock) and can revoke the grant only after this check.
        alive = (
            record is not None and consumed and await grants.grant_active(session, record.grant_id)
        )
    if record is None:
        raise InvalidGrant("unknown authorization code")
    if not consumed:
        _audit_revoked(runtime, "code.replayed", client, record.grant_id)
        raise InvalidGrant("the authorization code was already used; its tokens are revoked")
    rfc6749_authorization_code.check_code(
        rfc6749_authorization_code.CodeView(
            record.client_id, record.redirect_uri, record.code_challenge, record.expires_at
        ),
        client_id=client.client_id,
        redirect_uri=request.get("redirect_uri"),
        registered=client.redirect_uris,
        verifier=request.get("code_verifier"),
        now=now,
    )
    if not alive:
        raise InvalidGrant("the grant has been revoked")
    user = await _enabled_user(runtime, record.user_id)
    return await issue_tokens(
        runtime,
        Issue(
            client,
            user,
            record.grant_id,
            tuple(record.scopes),
            tuple(record.audiences),
            record.auth_time,
            record.nonce,
        ),
    )


async def refresh(runtime: Runtime, client: ClientView, request: TokenRequest) -> dict[str, Any]:
    """The refresh_token grant with rotation; reuse of a used token revokes the grant."""
    if rfc6749_refresh.GRANT_TYPE not in client.grant_types:
        raise UnauthorizedClient("this client may not use the refresh_token grant")
    value = request.get("refresh_token")
    if value is None:
        raise InvalidRequest("refresh_token is required")
    await require_keys_open(runtime)
    now = runtime.now()
    scopes: tuple[str, ...] = ()
    async with runtime.sessions() as session, session.begin():
        await _single_use(session)
        record = await grants.find_refresh_token(session, value)
        if record is None or record.client_id != client.client_id:
            # Another client's token is "unknown" here, and is not burned.
            raise InvalidGrant("unknown refresh token")
        if record.used_at is None:
            # RFC 6749 §5.2, §6: a refused request (an expired token, a scope beyond the
            # original grant) raises here, before the token is used up; the rollback
            # leaves it usable. A reused token skips this and is caught below.
            scopes = rfc6749_refresh.check_refresh(
                rfc6749_refresh.RefreshView(
                    record.client_id,
                    tuple(record.scopes),
                    record.expires_at,
                    record.idle_expires_at,
                ),
                client_id=client.client_id,
                requested=parse_scope(request.get("scope")),
                now=now,
            )
        _record, used = await grants.use_refresh_token(session, value, now)
        if not used:
            await grants.revoke_grant(session, record.grant_id, "refresh token reused", now)
        # RFC 9700 §4.14.2: as for codes, checked before commit so that of concurrent uses
        # exactly one succeeds (the reuses then revoke the grant, and its new tokens).
        alive = used and await grants.grant_active(session, record.grant_id)
    if not used:
        _audit_revoked(runtime, "refresh_token.reused", client, record.grant_id)
        raise InvalidGrant("the refresh token was already used; the grant is revoked")
    if not alive:
        raise InvalidGrant("the grant has been revoked")
    user = await _enabled_user(runtime, record.user_id)
    return await issue_tokens(
        runtime,
        Issue(
            client,
            user,
            record.grant_id,
            scopes,
            tuple(record.audiences),
            record.auth_time,
            family_started=record.created_at,
            # RFC 6749 §6: the new refresh token's scope is identical to the old one's,
            # however few the client asked for this time.
            granted=tuple(record.scopes),
        ),
    )
