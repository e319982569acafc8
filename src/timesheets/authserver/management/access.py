"""Who calls the management API: a valid access token of ours for the management audience,
holding the scope the operation needs (RFC 6750 errors otherwise)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request

from timesheets.authserver import admin, grants
from timesheets.authserver.runtime import Runtime
from timesheets.bearer.claims import ClaimRules
from timesheets.bearer.dependencies import authenticate
from timesheets.bearer.errors import InvalidToken
from timesheets.bearer.keys import parse_jwks
from timesheets.bearer.verifier import StaticKeys, TokenVerifier

ALGORITHMS = frozenset({"RS256", "PS256", "ES256", "EdDSA"})


@dataclass(frozen=True)
class Caller:
    """An authorized caller; `actor` is how the audit log names them."""

    actor: str
    scopes: frozenset[str]


def audience(runtime: Runtime) -> str:
    """The management API's audience: `<issuer>/api/v2/`."""
    return runtime.settings.issuer.rstrip("/") + admin.MANAGEMENT_PATH


async def _verifier(runtime: Runtime) -> TokenVerifier:
    ring = await runtime.keyring()
    rules = ClaimRules(issuer=runtime.settings.issuer, audience=audience(runtime), leeway=0)
    keys = StaticKeys(*parse_jwks(json.loads(ring.jwks)).values())
    return TokenVerifier(rules, ALGORITHMS, keys, clock=lambda: runtime.now().timestamp())


def require(scope: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency: the caller, who must hold `scope` (403 insufficient_scope otherwise)."""

    async def dependency(request: Request) -> Caller:
        runtime: Runtime = request.app.state.runtime
        principal = await authenticate(request, await _verifier(runtime), scope)
        grant_id = principal.claims.get("grant_id")
        if isinstance(grant_id, str):
            async with runtime.sessions() as session:
                if not await grants.grant_active(session, grant_id):
                    raise InvalidToken("the grant of this token has been revoked")
        kind = "client" if principal.is_machine else "user"
        who = principal.client_id if principal.is_machine else principal.subject
        return Caller(actor=f"{kind}:{who}", scopes=principal.scopes)

    return dependency
