"""The client credentials grant (RFC 6749 §4.4) with scopes per API (RFC 8707)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from timesheets.authserver.oauth.errors import InvalidScope, InvalidTarget, UnauthorizedClient
from timesheets.authserver.oauth.rfc8707 import requested_targets, resolve_targets, scope_owner
from timesheets.authserver.oauth.scope import parse_scope
from timesheets.authserver.oauth.tenant import ApiView, ClientView
from timesheets.authserver.oauth.token_request import TokenRequest

GRANT_TYPE = "client_credentials"
AUTH_METHODS = frozenset({"client_secret_basic", "client_secret_post"})


@dataclass(frozen=True)
class Issuance:
    """What a token will say: its audiences and scopes, and how it is signed."""

    apis: tuple[ApiView, ...]
    scopes: tuple[str, ...]

    @property
    def audiences(self) -> tuple[str, ...]:
        """The `aud` values, one per API."""
        return tuple(api.identifier for api in self.apis)

    @property
    def lifetime(self) -> int:
        """Seconds the token lives: the shortest of its APIs' lifetimes."""
        return min(api.token_lifetime for api in self.apis)


def select_scopes(
    client: ClientView, apis: tuple[ApiView, ...], requested: tuple[str, ...] | None
) -> tuple[str, ...]:
    """The scopes to issue: all granted when none are requested, else exactly those requested.

    Each scope must be defined by exactly one of the APIs and granted to the client on
    it (RFC 6749 §3.3; an unknown or ungranted scope is an error, not dropped), whether
    requested or granted by default.
    """
    allowed = {api.id: client.grants.get(api.id, frozenset()) & api.scopes for api in apis}
    if requested is None:
        requested = tuple(sorted({s for scopes in allowed.values() for s in scopes}))
    for scope in requested:
        owner = scope_owner(apis, scope)
        if owner is None or scope not in allowed[owner.id]:
            raise InvalidScope(f"scope {scope} is not granted to this client")
    return requested


def client_credentials(
    client: ClientView, request: TokenRequest, lookup: Callable[[str], ApiView | None]
) -> Issuance:
    """Decide a client credentials request for an authenticated confidential client."""
    if GRANT_TYPE not in client.grant_types or client.auth_method not in AUTH_METHODS:
        raise UnauthorizedClient("this client may not use the client_credentials grant")
    apis = resolve_targets(requested_targets(request), lookup)
    for api in apis:
        if api.id not in client.grants:
            # RFC 8707 §2: a resource the client may not access is invalid_target.
            raise InvalidTarget("this client is not authorized for the requested API")
    return Issuance(
        apis=apis, scopes=select_scopes(client, apis, parse_scope(request.get("scope")))
    )
