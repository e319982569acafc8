"""OpenID Connect Core: ID token claims (§2, §3.1.3.6) and UserInfo claims (§5.3)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any


def id_token_claims(
    *,
    issuer: str,
    subject: str,
    client_id: str,
    issued_at: int,
    lifetime: int,
    auth_time: int,
    nonce: str | None,
    profile: dict[str, Any],
    access_token: str | None = None,
) -> dict[str, Any]:
    """The claims of an ID token for the client (aud and azp are the client), with the
    `at_hash` of the access token issued beside it."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": client_id,
        "azp": client_id,
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "auth_time": auth_time,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        claims["at_hash"] = at_hash(access_token)
    claims.update({k: v for k, v in profile.items() if k not in claims})
    return claims


def profile_claims(
    scopes: tuple[str, ...] | list[str], *, name: str, email: str, user_type: str
) -> dict[str, Any]:
    """Claims released by the `profile` and `email` scopes (OIDC Core §5.4)."""
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        claims |= {"name": name, "user_type": user_type}
    if "email" in scopes:
        claims |= {"email": email, "email_verified": False}
    return claims


def api_identity_claims(scopes: tuple[str, ...] | list[str], *, name: str) -> dict[str, Any]:
    """The person's identity claims in an access token for an API (RFC 9068 §2.2.2 leaves
    them to the issuer): their `name`, only when they let the client have their profile
    (OIDC Core §5.4), so that the API can show whose entries it holds."""
    return {"name": name} if "profile" in scopes else {}


def at_hash(access_token: str) -> str:
    """OpenID Connect Core §3.1.3.6 and §3.2.2.10: the base64url-encoded left half of the
    SHA-256 hash of the token's ASCII octets (ID tokens are RS256)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
