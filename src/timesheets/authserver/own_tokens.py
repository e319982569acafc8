"""Reading tokens this server issued: access tokens (JWTs) and refresh tokens.

Used by revocation, introspection and UserInfo. Access tokens are verified with the
shared bearer verifier against this server's own published keys, or the secret of the
HS256 API they are for.
"""

from __future__ import annotations

import json
from typing import Any

from timesheets.authserver import grants
from timesheets.authserver.models import RefreshToken
from timesheets.authserver.oauth.rfc8414 import endpoint
from timesheets.authserver.runtime import Runtime
from timesheets.bearer.claims import ClaimRules
from timesheets.bearer.errors import BearerError
from timesheets.bearer.jws import parse_compact
from timesheets.bearer.keys import VerificationKey, parse_jwks
from timesheets.bearer.verifier import StaticKeys, TokenVerifier

ASYMMETRIC = frozenset({"RS256", "PS256", "ES256", "EdDSA"})
HMAC = frozenset({"HS256"})


async def access_token_claims(
    runtime: Runtime, token: str, audience: str | None = None, *, shared_secrets: bool = True
) -> dict[str, Any] | None:
    """The claims of a valid, unexpired access token of ours whose grant is alive, or None.

    Without `audience`, the token's first audience is the one checked (introspection,
    revocation). A token for an HS256 API is checked with that API's secret, unless
    `shared_secrets` is False: the API's resource server holds that secret too and can
    sign any claims with it, so such a token proves nothing of who we issued it to.
    """
    try:
        if audience is None:
            audience = _first_audience(parse_compact(token, ASYMMETRIC | HMAC).payload)
        verifier = await _verifier(runtime, audience)
        if verifier.algorithms == HMAC and not shared_secrets:
            return None
        claims = (await verifier.verify(token)).claims
    except BearerError:
        return None
    if verifier.algorithms == HMAC and not _only_for(runtime, claims.get("aud"), audience):
        # Whoever holds the API's secret can sign with it: it vouches for that API only.
        return None
    grant_id = claims.get("grant_id")
    if isinstance(grant_id, str):
        async with runtime.sessions() as session:
            if not await grants.grant_active(session, grant_id):
                return None
    return claims


def _only_for(runtime: Runtime, claimed: Any, audience: str) -> bool:
    """Whether a token's `aud` names `audience` and nothing else but our UserInfo
    endpoint (a person's token asked with `openid` names it too)."""
    names = claimed if isinstance(claimed, list) else [claimed]
    userinfo = endpoint(runtime.settings.issuer, "/userinfo")
    return audience in names and set(names) <= {audience, userinfo}


def _first_audience(payload: dict[str, Any]) -> str:
    audience = payload.get("aud")
    first = audience[0] if isinstance(audience, list) and audience else audience
    return first if isinstance(first, str) else ""


async def _verifier(runtime: Runtime, audience: str) -> TokenVerifier:
    """A verifier for tokens naming `audience`, with the keys its API is configured for.

    RFC 8725 §3.1: the algorithm comes from configuration, never from the token: an
    HS256 API's tokens are checked with its own secret, all others with our public keys.
    """
    api = (await runtime.apis()).get(audience)
    if api is not None and api.signing_alg == "HS256":
        secret = api.hs256_secret
        keys = StaticKeys(*([VerificationKey(None, "HS256", secret)] if secret else []))
        algorithms = HMAC
    else:
        ring = await runtime.keyring()
        keys = StaticKeys(*parse_jwks(json.loads(ring.jwks)))
        algorithms = ASYMMETRIC
    rules = ClaimRules(issuer=runtime.settings.issuer, audience=audience, leeway=0)
    return TokenVerifier(rules, algorithms, keys, clock=lambda: runtime.now().timestamp())


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
