"""OpenID Connect RP-Initiated Logout 1.0: what a logout request asks, and whether to do it.

Free of IO: the caller looks the client up, knows the signed-in user and the published
keys, and acts on the `LogoutDecision`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt

from timesheets.authserver.oauth.tenant import ClientView

ID_TOKEN_ALGS = ["RS256"]


class LogoutError(Exception):
    """A logout request that fails validation (§4): nothing is done, an error page says why."""


@dataclass(frozen=True)
class LogoutRequest:
    """The parameters of §2 this server acts on."""

    id_token_hint: str | None
    client_id: str | None
    post_logout_redirect_uri: str | None
    state: str | None

    @classmethod
    def of(cls, params: Mapping[str, str]) -> LogoutRequest:
        """From the query (GET) or form (POST); empty values count as absent."""
        return cls(
            params.get("id_token_hint") or None,
            params.get("client_id") or None,
            params.get("post_logout_redirect_uri") or None,
            params.get("state") or None,
        )


@dataclass(frozen=True)
class Hint:
    """Who an ID token hint names: the person and the client it was issued to."""

    subject: str
    client_id: str


def read_hint(token: str, jwks: Mapping[str, Any], issuer: str) -> Hint:
    """Validate an id_token_hint: our signature and issuer (§4); an expired one is fine.

    §4: "The OP SHOULD accept ID Tokens when the RP identified by the ID Token's aud claim
    and/or sid claim has a current session or had a recent session at the OP, even when
    the exp time has passed."
    """
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = jwt.PyJWKSet.from_dict(dict(jwks))[str(kid)]
        claims = jwt.decode(
            token,
            key.key,
            algorithms=ID_TOKEN_ALGS,
            issuer=issuer,
            options={"verify_exp": False, "verify_aud": False, "require": ["sub", "aud"]},
        )
    except (jwt.PyJWTError, KeyError) as error:
        raise LogoutError(
            f"the id_token_hint is not an ID token of this server ({error})"
        ) from None
    audience = claims["aud"]
    client_id = claims.get("azp") or (audience[0] if isinstance(audience, list) else audience)
    if not isinstance(client_id, str) or not isinstance(claims["sub"], str):
        raise LogoutError("the id_token_hint names no client or person")
    return Hint(claims["sub"], client_id)


def client_id_of(request: LogoutRequest, hint: Hint | None) -> str | None:
    """The client the request is from: the hint's, which a client_id must match (§2)."""
    if hint is not None and request.client_id is not None and request.client_id != hint.client_id:
        # §2: "When both client_id and id_token_hint are present, the OP MUST verify that
        # the Client Identifier matches the one used when issuing the ID Token."
        raise LogoutError("client_id does not match the client of the id_token_hint")
    return hint.client_id if hint is not None else request.client_id


def must_confirm(hint: Hint | None, signed_in: str | None) -> bool:
    """§2: the OP "MUST ask the End-User [whether to log out] if an id_token_hint was not
    provided or if the supplied ID Token does not belong to the current OP session with
    the RP and/or currently logged in End-User". Nobody signed in: nothing to ask."""
    return signed_in is not None and (hint is None or hint.subject != signed_in)


def return_to(request: LogoutRequest, client: ClientView | None) -> str | None:
    """Where to send the browser after logout, with `state`; None: a signed-out page.

    §3: the OP "MUST NOT perform post-logout redirection if the post_logout_redirect_uri
    value supplied does not exactly match one of the previously registered
    post_logout_redirect_uris values", and passes `state` back when it was sent.
    """
    target = request.post_logout_redirect_uri
    if target is None or client is None or target not in client.post_logout_redirect_uris:
        return None
    if request.state is None:
        return target
    return f"{target}{'&' if '?' in target else '?'}{urlencode({'state': request.state})}"
