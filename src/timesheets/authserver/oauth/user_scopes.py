"""Which scopes a user's token carries: requested AND granted to the client AND
permitted by the user's roles; OpenID scopes pass through when requested."""

from __future__ import annotations

from timesheets.authserver.oauth.errors import InvalidScope
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
    and the user's roles permit. A requested scope that no requested API defines (and
    that is not an OpenID scope) is `invalid_scope`; one the user or client may not have
    is left out, as a consent screen would (RFC 6749 §3.3 lets the server issue less).
    """
    allowed = _allowed(client, apis, permissions)
    if requested is None:
        return tuple(sorted(allowed))
    defined = set().union(*(api.scopes for api in apis)) if apis else set()
    unknown = [s for s in requested if s not in defined and s not in OIDC_SCOPES]
    if unknown:
        raise InvalidScope(f"unknown scope {unknown[0]}")
    return tuple(s for s in requested if s in allowed or s in OIDC_SCOPES)


def still_allowed(
    scopes: tuple[str, ...],
    client: ClientView,
    apis: tuple[ApiView, ...],
    permissions: dict[str, frozenset[str]],
) -> tuple[str, ...]:
    """The scopes of a grant that the client and the person's roles still allow: a
    refresh (or a code redeemed late) never brings back a scope whose role or client
    grant was taken away since (RFC 6749 §3.3 lets the server issue fewer; the token
    response then names those it issued)."""
    allowed = _allowed(client, apis, permissions)
    return tuple(s for s in scopes if s in allowed or s in OIDC_SCOPES)


def _allowed(
    client: ClientView, apis: tuple[ApiView, ...], permissions: dict[str, frozenset[str]]
) -> set[str]:
    """Every API scope the client is granted and the person's roles permit."""
    allowed: set[str] = set()
    for api in apis:
        allowed |= (
            client.grants.get(api.id, frozenset())
            & api.scopes
            & permissions.get(api.identifier, frozenset())
        )
    return allowed
