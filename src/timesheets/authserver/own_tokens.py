"""Reading tokens this server issued: access tokens (JWTs) and refresh tokens.

Used by revocation, introspection and UserInfo. Access tokens are verified with the
shared bearer verifier against this server's own published keys.
"""

from __future__ import annotations

import json
from typing import Any

from timesheets.authserver import grants
from timesheets.authserver.models import RefreshToken
from timesheets.authserver.runtime import Runtime
from timesheets.bearer.claims import ClaimRules
from timesheets.bearer.errors import BearerError
from timesheets.bearer.jws import parse_compact
from timesheets.bearer.keys import parse_jwks
from timesheets.bearer.verifier import StaticKeys, TokenVerifier

ALGORITHMS = frozenset({"RS256", "PS256", "ES256", "EdDSA"})


async def access_token_claims(
    runtime: Runtime, token: str, audience: str | None = None
) -> dict[str, Any] | None:
    """The claims of a valid, unexpired access token of ours whose grant is alive, or None.

    Without `audience`, any audience is accepted (introspection, revocation).
    """
    ring = await runtime.keyring()
    keys = StaticKeys(*parse_jwks(json.loads(ring.jwks)).values())
    rules = ClaimRules(issuer=runtime.settings.issuer, audience=audience or "", leeway=0)
    verifier = TokenVerifier(rules, ALGORITHMS, keys, clock=lambda: runtime.now().timestamp())
    try:
        if audience is None:
            claims = await _without_audience(verifier, token)
        else:
            claims = (await verifier.verify(token)).claims
    except BearerError:
        return None
    grant_id = claims.get("grant_id")
    if isinstance(grant_id, str):
        async with runtime.sessions() as session:
            if not await grants.grant_active(session, grant_id):
                return None
    return claims


async def _without_audience(verifier: TokenVerifier, token: str) -> dict[str, Any]:
    audience = parse_compact(token, verifier.algorithms).payload.get("aud")
    first = audience[0] if isinstance(audience, list) and audience else audience
    rules = ClaimRules(
        issuer=verifier.rules.issuer, audience=first if isinstance(first, str) else "", leeway=0
    )
    checker = TokenVerifier(rules, verifier.algorithms, verifier.keys, verifier.clock)
    return (await checker.verify(token)).claims


async def refresh_token(runtime: Runtime, token: str) -> RefreshToken | None:
    """A stored refresh token by value, whatever its state."""
    async with runtime.sessions() as session:
        return await grants.find_refresh_token(session, token)


async def refresh_token_active(runtime: Runtime, record: RefreshToken) -> bool:
    """Unused, unexpired, and its grant alive."""
    now = runtime.now()
    if record.used_at is not None or now >= record.expires_at or now >= record.idle_expires_at:
        return False
    async with runtime.sessions() as session:
        return await grants.grant_active(session, record.grant_id)
