"""Which scopes a user's token carries: requested AND granted to the client AND
permitted by the user's roles; OpenID scopes pass through when requested."""

from __future__ import annotations

from timesheets.authserver.oauth.errors import InvalidScope
from timesheets.authserver.oauth.rfc8707 import scope_owner
from timesheets.authserver.oauth.tenant import ApiView, ClientView

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})


def user_token_scopes(
    client: ClientView,
    apis: tuple[ApiView, ...],
    permissions: dict[str, frozenset[str]],
    requested: tuple[str, ...] | None,
) -> tuple[str, ...]:
    """The scopes to issue for a user.

    With no `scope` requested, the token gets every API scope that the client is granted
    and the user's roles permit on the API defining it. A requested scope that no
    requested API defines (and that is not an OpenID scope) is `invalid_scope`; one the
    user or client may not have is left out, as a consent screen would (RFC 6749 §3.3
    lets the server issue less). Either way, a scope name defined by more than one of
    the requested APIs is `invalid_scope`.
    """
    allowed = _allowed(client, apis, permissions)
    if requested is None:
        requested = tuple(sorted({s for scopes in allowed.values() for s in scopes}))
    issued: list[str] = []
    for scope in requested:
        if scope in OIDC_SCOPES:
            issued.append(scope)
            continue
        owner = scope_owner(apis, scope)
        if owner is None:
            raise InvalidScope(f"unknown scope {scope}")
        if scope in allowed[owner.id]:
            issued.append(scope)
    return tuple(issued)


def still_allowed(
    scopes: tuple[str, ...],
    client: ClientView,
    apis: tuple[ApiView, ...],
    permissions: dict[str, frozenset[str]],
) -> tuple[str, ...]:
    """The scopes of a grant that the client and the person's roles still allow on the
    API defining each: a refresh (or a code redeemed late) never brings back a scope
    whose role or client grant was taken away since, nor one its API no longer defines
    (RFC 6749 §3.3 lets the server issue fewer; the token response names those issued)."""
    allowed = _allowed(client, apis, permissions)
    kept: list[str] = []
    for scope in scopes:
        owner = None if scope in OIDC_SCOPES else scope_owner(apis, scope)
        if scope in OIDC_SCOPES or (owner is not None and scope in allowed[owner.id]):
            kept.append(scope)
    return tuple(kept)


def _allowed(
    client: ClientView, apis: tuple[ApiView, ...], permissions: dict[str, frozenset[str]]
) -> dict[str, frozenset[str]]:
    """Per API id, the scopes the client is granted and the person's roles permit."""
    return {
        api.id: client.grants.get(api.id, frozenset())
        & api.scopes
        & permissions.get(api.identifier, frozenset())
        for api in apis
    }
