"""JWT access tokens (RFC 9068): the header and claims every access token carries."""

from __future__ import annotations

from typing import Any

#: RFC 9068 §2.1: access tokens are typed `at+jwt` so they cannot pass for ID tokens.
ACCESS_TOKEN_TYP = "at+jwt"


def access_token_header(kid: str) -> dict[str, str]:
    """The JOSE header members besides `alg` (RFC 9068 §2.1): `typ`, and `kid` naming the
    signing key (every access token of ours has one, HS256 ones included)."""
    return {"typ": ACCESS_TOKEN_TYP, "kid": kid}


def access_token_claims(
    *,
    issuer: str,
    subject: str,
    client_id: str,
    audiences: tuple[str, ...],
    scopes: tuple[str, ...],
    issued_at: int,
    lifetime: int,
    jti: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The claims of RFC 9068 §2.2; `aud` is a string for one API, a list for several."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audiences[0] if len(audiences) == 1 else list(audiences),
        "client_id": client_id,
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "jti": jti,
        "scope": " ".join(scopes),
    }
    if extra:
        # Extra claims (gty, permissions) never replace the registered ones above.
        claims.update({k: v for k, v in extra.items() if k not in claims})
    return claims


def machine_subject(client_id: str) -> str:
    """The `sub` of a token issued to a client on its own behalf."""
    return f"{client_id}@clients"
