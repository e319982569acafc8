"""Resource indicators (RFC 8707) and the `audience` parameter of the original scenario."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from timesheets.authserver.oauth.errors import InvalidRequest, InvalidScope, InvalidTarget
from timesheets.authserver.oauth.tenant import ApiView
from timesheets.authserver.oauth.token_request import TokenRequest


def requested_targets(request: TokenRequest) -> tuple[str, ...]:
    """The identifiers of the APIs a request targets, in order, without repeats.

    `resource` (RFC 8707 §2) must be an absolute URI without a fragment; `audience` (the
    seed's parameter) names one API by its identifier. Both at once must agree.
    """
    for resource in request.resources:
        try:
            parts = urlsplit(resource)
        except ValueError:
            raise InvalidTarget("resource must be an absolute URI (RFC 8707 2)") from None
        if not parts.scheme or (not parts.netloc and parts.scheme in ("http", "https")):
            raise InvalidTarget("resource must be an absolute URI (RFC 8707 2)")
        if parts.fragment or "#" in resource:
            raise InvalidTarget("resource must not include a fragment (RFC 8707 2)")
    audience = request.get("audience")
    targets = list(dict.fromkeys(request.resources))
    if audience is not None:
        if targets and targets != [audience]:
            raise InvalidRequest("audience and resource name different APIs")
        targets = [audience]
    if not targets:
        raise InvalidTarget("the request names no API: send audience or resource")
    return tuple(targets)


def resolve_targets(
    identifiers: tuple[str, ...], lookup: Callable[[str], ApiView | None]
) -> tuple[ApiView, ...]:
    """The APIs behind the identifiers; an unknown one is `invalid_target`."""
    apis = []
    for identifier in identifiers:
        api = lookup(identifier)
        if api is None:
            raise InvalidTarget("the requested API is not registered")
        apis.append(api)
    if len({api.signing_alg for api in apis}) > 1:
        raise InvalidTarget("the requested APIs use different signing algorithms")
    if len(apis) > 1 and apis[0].signing_alg == "HS256":
        raise InvalidTarget("a token for several APIs cannot be signed with one API's secret")
    return tuple(apis)


def scope_owner(apis: tuple[ApiView, ...], scope: str) -> ApiView | None:
    """The one requested API that defines `scope`, or None when none does.

    A name defined by several of the requested APIs is `invalid_scope`: a token for
    all of them would carry it to each, granted on one or not (RFC 8707 §2).
    """
    owners = [api for api in apis if scope in api.scopes]
    if len(owners) > 1:
        raise InvalidScope(f"scope {scope} is defined by more than one requested API")
    return owners[0] if owners else None
