"""Refreshing an access token (RFC 6749 §6) with rotation (RFC 9700 §4.14.2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from timesheets.authserver.oauth.errors import InvalidGrant, InvalidScope

GRANT_TYPE = "refresh_token"


@dataclass(frozen=True)
class RefreshView:
    """What a stored refresh token allows."""

    client_id: str
    scopes: tuple[str, ...]
    expires_at: datetime
    idle_expires_at: datetime


def check_refresh(
    token: RefreshView, *, client_id: str, requested: tuple[str, ...] | None, now: datetime
) -> tuple[str, ...]:
    """The scopes of the new tokens; raises InvalidGrant or InvalidScope."""
    if token.client_id != client_id:
        raise InvalidGrant("the refresh token was issued to another client")
    if now >= token.expires_at or now >= token.idle_expires_at:
        raise InvalidGrant("the refresh token has expired")
    if requested is None:
        return token.scopes
    extra = [s for s in requested if s not in token.scopes]
    if extra:
        # §6: the requested scope must not include any scope not originally granted.
        raise InvalidScope(f"scope {extra[0]} was not granted originally")
    return requested
