"""Persistence of user grants: authorization codes, refresh-token families, sessions.

Codes and refresh tokens are random 256-bit strings stored only as SHA-256 digests.
Single use is enforced by the database (an UPDATE that succeeds once), so it holds
across processes: a code is redeemed once however many instances try.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver.models import (
    AuthorizationCode,
    Grant,
    LoginSession,
    RefreshToken,
    User,
)


def new_secret() -> tuple[str, bytes]:
    """A random token (256 bits) and its stored digest."""
    value = secrets.token_urlsafe(32)
    return value, digest(value)


def digest(value: str) -> bytes:
    """SHA-256 of a token, as stored."""
    return hashlib.sha256(value.encode("utf-8")).digest()


async def create_grant(session: AsyncSession, client_id: str, user_id: str, now: datetime) -> Grant:
    """A new grant (token family)."""
    grant = Grant(
        id="grt_" + secrets.token_hex(12),
        client_id=client_id,
        user_id=user_id,
        created_at=now,
        revoked_at=None,
        revoked_reason=None,
    )
    session.add(grant)
    await session.flush()
    return grant


async def revoke_grant(session: AsyncSession, grant_id: str, reason: str, now: datetime) -> None:
    """Revoke a grant: its refresh tokens stop working and introspection says inactive."""
    await session.execute(
        update(Grant)
        .where(Grant.id == grant_id, Grant.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


async def grant_of(session: AsyncSession, grant_id: str, client_id: str) -> bool:
    """Whether a grant exists and was made to `client_id`."""
    grant = await session.get(Grant, grant_id)
    return grant is not None and grant.client_id == client_id


async def grant_active(session: AsyncSession, grant_id: str) -> bool:
    """Whether a grant exists and has not been revoked."""
    grant = await session.get(Grant, grant_id)
    return grant is not None and grant.revoked_at is None


async def store_code(session: AsyncSession, code: AuthorizationCode) -> None:
    """Store an authorization code."""
    session.add(code)
    await session.flush()


async def consume_code(
    session: AsyncSession, code: str, now: datetime
) -> tuple[AuthorizationCode | None, bool]:
    """The code's record and whether this call consumed it (False: unknown or replayed)."""
    key = digest(code)
    record = await session.get(AuthorizationCode, key)
    if record is None:
        return None, False
    result = await session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.digest == key, AuthorizationCode.consumed_at.is_(None))
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    return record, cast("CursorResult[Any]", result).rowcount == 1


@dataclass(frozen=True)
class RefreshLifetimes:
    """Absolute and idle lifetimes of refresh tokens."""

    absolute: timedelta
    idle: timedelta


async def issue_refresh_token(
    session: AsyncSession,
    *,
    grant_id: str,
    client_id: str,
    user_id: str,
    scopes: list[str],
    audiences: list[str],
    auth_time: datetime,
    now: datetime,
    lifetimes: RefreshLifetimes,
    family_started: datetime | None = None,
) -> str:
    """A new refresh token of a grant; its absolute expiry counts from the family's start."""
    value, key = new_secret()
    started = family_started or now
    session.add(
        RefreshToken(
            digest=key,
            grant_id=grant_id,
            client_id=client_id,
            user_id=user_id,
            scopes=scopes,
            audiences=audiences,
            auth_time=auth_time,
            created_at=started,
            expires_at=started + lifetimes.absolute,
            idle_expires_at=min(now + lifetimes.idle, started + lifetimes.absolute),
            used_at=None,
        )
    )
    await session.flush()
    return value


async def use_refresh_token(
    session: AsyncSession, value: str, now: datetime
) -> tuple[RefreshToken | None, bool]:
    """The refresh token's record and whether this call used it (False: unknown or reused)."""
    key = digest(value)
    record = await session.get(RefreshToken, key)
    if record is None:
        return None, False
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.digest == key, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return record, cast("CursorResult[Any]", result).rowcount == 1


async def find_refresh_token(session: AsyncSession, value: str) -> RefreshToken | None:
    """A refresh token's record by its value."""
    return await session.get(RefreshToken, digest(value))


async def create_session(
    session: AsyncSession, user_id: str, now: datetime, lifetime: timedelta
) -> str:
    """A login session; returns the cookie value."""
    value, key = new_secret()
    session.add(LoginSession(digest=key, user_id=user_id, auth_time=now, expires_at=now + lifetime))
    await session.flush()
    return value


async def find_session(session: AsyncSession, value: str) -> LoginSession | None:
    """A login session by cookie value, live or expired (`session_refusal` tells)."""
    return await session.get(LoginSession, digest(value))


def session_refusal(record: LoginSession | None, user: User | None, now: datetime) -> str | None:
    """Why a browser's session does not sign it in, or None when it does.

    "unknown session" covers a signed-out browser and a deleted user's (their sessions
    go with them); "user deleted meanwhile" is a user deleted between the session's
    lookup and their own.
    """
    if record is None:
        return "unknown session"
    if record.expires_at <= now:
        return "expired session"
    if user is None:
        return "user deleted meanwhile"
    if not user.enabled:
        return "user disabled"
    return None


async def end_session(session: AsyncSession, value: str) -> None:
    """Log out: delete the session."""
    record = await session.get(LoginSession, digest(value))
    if record is not None:
        await session.delete(record)
