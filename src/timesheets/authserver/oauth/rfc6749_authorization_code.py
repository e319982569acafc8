"""Redeeming an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from timesheets.authserver.oauth import rfc7636
from timesheets.authserver.oauth.errors import InvalidGrant, InvalidRequest

GRANT_TYPE = "authorization_code"


@dataclass(frozen=True)
class CodeView:
    """What a stored code was issued for."""

    client_id: str
    redirect_uri: str
    """The redirect URI the authorization request named, or "" when it named none."""
    code_challenge: str | None
    expires_at: datetime


def check_code(
    code: CodeView,
    *,
    client_id: str,
    redirect_uri: str | None,
    registered: tuple[str, ...],
    verifier: str | None,
    now: datetime,
) -> None:
    """Raise InvalidGrant unless the code may be redeemed by this request."""
    if code.client_id != client_id:
        raise InvalidGrant("the code was issued to another client")
    if now >= code.expires_at:
        raise InvalidGrant("the code has expired")
    # §4.1.3: redirect_uri is required if the authorization request included it, and
    # then identical to it; a request that named none was answered at the client's one
    # registered URI, the only one a redirect_uri sent anyway may name.
    if code.redirect_uri:
        if redirect_uri is None:
            raise InvalidRequest("redirect_uri is required")
        if redirect_uri != code.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
    elif redirect_uri is not None and redirect_uri not in registered[:1]:
        raise InvalidGrant("redirect_uri does not match the authorization request")
    rfc7636.verify(verifier, code.code_challenge)
