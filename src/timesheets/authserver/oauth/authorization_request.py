"""The authorization endpoint's checks (RFC 6749 §4.1.1, §4.1.2.1; RFC 7636; OIDC Core
§3.1.2), as single-purpose steps applied in order.

Errors before the redirect URI is known to be the client's are shown on a page
(`redirectable=False`); later errors go back to the client with `state` (§4.1.2.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from timesheets.authserver.oauth.errors import OAuthError
from timesheets.authserver.oauth.rfc7636 import check_challenge
from timesheets.authserver.oauth.scope import parse_scope

PUBLIC_METHODS = ("none",)


class AuthorizeError(Exception):
    """A refused authorization request."""

    def __init__(self, error: str, description: str, *, redirectable: bool) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirectable = redirectable


@dataclass(frozen=True)
class ClientRegistration:
    """What the authorization endpoint needs to know of a client."""

    client_id: str
    redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    public: bool


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked request: where to answer, what to issue, and the PKCE challenge."""

    client_id: str
    redirect_uri: str
    response_type: str
    scopes: tuple[str, ...] | None
    state: str | None
    nonce: str | None
    audiences: tuple[str, ...]
    code_challenge: str | None
    prompt: str | None
    redirect_uri_given: bool = True
    """Whether the request named its redirect URI (RFC 6749 §4.1.3 then requires it again)."""
    max_age: int | None = None
    """OpenID Connect Core §3.1.2.1: the longest time since sign-in the person accepts."""


def single_params(query: str) -> dict[str, str]:
    """Query parameters, each at most once (§3.1); repeated `resource` is allowed."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "resource":
            continue
        if name in params:
            raise AuthorizeError(
                "invalid_request", f"parameter {name} is repeated", redirectable=False
            )
        if value:
            params[name] = value
    return params


def resources(query: str) -> tuple[str, ...]:
    """The `resource` parameters (RFC 8707)."""
    return tuple(dict.fromkeys(v for n, v in parse_qsl(query) if n == "resource" and v))


def check_redirect_uri(params: Mapping[str, str], client: ClientRegistration) -> str:
    """Exact string match against a registered URI (RFC 9700 §2.1; no prefix, no wildcard)."""
    uri = params.get("redirect_uri")
    if uri is None:
        if len(client.redirect_uris) == 1:
            return client.redirect_uris[0]
        raise AuthorizeError("invalid_request", "redirect_uri is required", redirectable=False)
    if uri not in client.redirect_uris:
        raise AuthorizeError(
            "invalid_request", "redirect_uri is not registered for this client", redirectable=False
        )
    return uri


def check_response_type(params: Mapping[str, str], client: ClientRegistration) -> str:
    """`code`; the implicit `token` / `id_token token` only for a client allowed it."""
    response_type = params.get("response_type")
    if response_type is None:
        raise AuthorizeError("invalid_request", "response_type is required", redirectable=True)
    if response_type == "code":
        if "authorization_code" not in client.grant_types:
            raise AuthorizeError(
                "unauthorized_client", "the client may not use codes", redirectable=True
            )
        return response_type
    if response_type in ("token", "id_token token"):
        if "implicit" not in client.grant_types:
            raise AuthorizeError(
                "unauthorized_client",
                "the implicit grant is not allowed for this client",
                redirectable=True,
            )
        return response_type
    raise AuthorizeError(
        "unsupported_response_type", f"response_type {response_type}", redirectable=True
    )


def check_request(query: str, client: ClientRegistration | None) -> AuthorizationRequest:
    """Apply every check in order; raises AuthorizeError."""
    params = single_params(query)
    if client is None:
        raise AuthorizeError("invalid_request", "unknown client_id", redirectable=False)
    redirect_uri = check_redirect_uri(params, client)
    response_type = check_response_type(params, client)
    try:
        scopes = parse_scope(params.get("scope"))
        challenge = check_challenge(
            params.get("code_challenge"),
            params.get("code_challenge_method"),
            required=client.public and response_type == "code",
        )
    except OAuthError as error:
        raise AuthorizeError(error.error, error.description, redirectable=True) from None
    audiences = resources(query)
    audience = params.get("audience")
    if audience is not None:
        if audiences and audiences != (audience,):
            raise AuthorizeError(
                "invalid_request", "audience and resource differ", redirectable=True
            )
        audiences = (audience,)
    if response_type != "code" and "nonce" not in params and "id_token" in response_type:
        raise AuthorizeError("invalid_request", "nonce is required for id_token", redirectable=True)
    prompt = check_prompt(params.get("prompt"))
    return AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        response_type=response_type,
        scopes=scopes,
        state=params.get("state"),
        nonce=params.get("nonce"),
        audiences=audiences,
        code_challenge=challenge,
        prompt=prompt,
        redirect_uri_given="redirect_uri" in params,
        max_age=check_max_age(params.get("max_age")),
    )


PROMPTS = frozenset({"none", "login", "consent", "select_account"})


def check_prompt(value: str | None) -> str | None:
    """OpenID Connect Core §3.1.2.1: space-delimited known values, `none` alone."""
    if value is None:
        return None
    values = value.split(" ")
    if any(v not in PROMPTS for v in values) or len(set(values)) != len(values):
        raise AuthorizeError("invalid_request", f"prompt {value!r} is not valid", redirectable=True)
    if "none" in values and len(values) > 1:
        raise AuthorizeError(
            "invalid_request", "prompt none cannot be combined with other values", redirectable=True
        )
    return value


def check_max_age(value: str | None) -> int | None:
    """`max_age`: a number of seconds, 0 or more (OpenID Connect Core §3.1.2.1)."""
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise AuthorizeError(
            "invalid_request", "max_age must be a whole number of seconds", redirectable=True
        )
    return int(value)


def prompts(auth: AuthorizationRequest) -> frozenset[str]:
    """The request's `prompt` values."""
    return frozenset(auth.prompt.split(" ")) if auth.prompt else frozenset()
