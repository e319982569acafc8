"""Who calls the management API: a valid access token of ours for the management audience,
whose client (and person) still stand, holding the scope the operation needs (RFC 6750
errors otherwise)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.requests import Request

from timesheets.authserver import admin, grants, people
from timesheets.authserver.models import User
from timesheets.authserver.runtime import Runtime
from timesheets.bearer.claims import ClaimRules, Principal
from timesheets.bearer.dependencies import authenticate
from timesheets.bearer.errors import InsufficientScope, InvalidToken
from timesheets.bearer.keys import parse_jwks
from timesheets.bearer.verifier import StaticKeys, TokenVerifier

ALGORITHMS = frozenset({"RS256", "PS256", "ES256", "EdDSA"})


@dataclass(frozen=True)
class Caller:
    """An authorized caller; `actor` is how the audit log names them, `scopes` the
    management scopes they hold now."""

    actor: str
    scopes: frozenset[str]


def audience(runtime: Runtime) -> str:
    """The management API's audience: `<issuer>/api/v2/`."""
    return runtime.settings.issuer.rstrip("/") + admin.MANAGEMENT_PATH


async def _verifier(runtime: Runtime) -> TokenVerifier:
    ring = await runtime.keyring()
    rules = ClaimRules(issuer=runtime.settings.issuer, audience=audience(runtime), leeway=0)
    keys = StaticKeys(*parse_jwks(json.loads(ring.jwks)))
    return TokenVerifier(rules, ALGORITHMS, keys, clock=lambda: runtime.now().timestamp())


async def _held_now(runtime: Runtime, principal: Principal) -> frozenset[str]:
    """The token's scopes that still hold: its client must still be enabled, a machine
    token's grant must still give each scope, a person must still be enabled and their
    grant not revoked (RFC 6750 §3.1 invalid_token otherwise), before the token expires."""
    client = await runtime.client(principal.client_id)  # the revision-invalidated cache
    if client is None:
        raise InvalidToken("the client of this token is disabled or deleted")
    api = (await runtime.apis()).get(audience(runtime))
    granted = client.grants.get(api.id, frozenset()) if api is not None else frozenset()
    if principal.is_machine:
        if not granted:
            raise InvalidToken("the grant of this token has been withdrawn")
        return principal.scopes & granted
    async with runtime.sessions() as session:
        user = await session.get(User, principal.subject)
        if user is None or not user.enabled:
            raise InvalidToken("the person of this token is disabled or deleted")
        grant_id = principal.claims.get("grant_id")
        if isinstance(grant_id, str) and not await grants.grant_active(session, grant_id):
            raise InvalidToken("the grant of this token has been revoked")
        permitted = await people.user_permissions(session, user.id)
    # A person holds now what both their roles and the client's grant still give.
    return principal.scopes & granted & permitted.get(audience(runtime), frozenset())


@dataclass(frozen=True)
class Requirement:
    """A dependency: the caller, who must hold `scope` (403 insufficient_scope otherwise)."""

    scope: str

    async def __call__(self, request: Request) -> Caller:
        """Authenticate the request's caller and check the scope against what they hold."""
        runtime: Runtime = request.app.state.runtime
        principal = await authenticate(request, await _verifier(runtime), None)
        scopes = await _held_now(runtime, principal)
        if self.scope not in scopes:
            raise InsufficientScope(f"the {self.scope} scope is required", scope=self.scope)
        kind = "client" if principal.is_machine else "user"
        who = principal.client_id if principal.is_machine else principal.subject
        return Caller(actor=f"{kind}:{who}", scopes=scopes)


def require(scope: str) -> Requirement:
    """A dependency: the caller, who must hold `scope` (403 insufficient_scope otherwise)."""
    return Requirement(scope)
