"""Client authentication at the token endpoint (RFC 6749 §2.3.1, §3.2.1)."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_plus

from timesheets.authserver.oauth.errors import InvalidClient, InvalidRequest
from timesheets.authserver.oauth.token_request import TokenRequest

AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]
AUTH_METHODS: tuple[AuthMethod, ...] = ("client_secret_basic", "client_secret_post", "none")
SECRET_BYTES = 32  # 256 bits


@dataclass(frozen=True)
class PresentedCredentials:
    """What the request presented: the client id, the secret (if any) and how."""

    client_id: str
    secret: str | None
    method: AuthMethod


def generate_secret() -> str:
    """A new client secret of 256 random bits, shown to the operator once."""
    return secrets.token_urlsafe(SECRET_BYTES)


def secret_digest(secret: str) -> bytes:
    """The stored form of a secret: SHA-256 suffices for 256-bit random secrets."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def secret_matches(secret: str, digests: Iterable[bytes]) -> bool:
    """Whether the secret matches any digest, comparing each in constant time."""
    presented = secret_digest(secret)
    matched = False
    for digest in digests:
        matched |= hmac.compare_digest(presented, digest)
    return matched


def method_allowed(registered: str, presented: AuthMethod) -> bool:
    """Whether a client registered for `registered` may authenticate with `presented`.

    RFC 6749 §2.3.1: the server "MUST support the HTTP Basic authentication scheme for
    authenticating clients that were issued a client password", so Basic serves every
    client with a secret; a body secret is for clients registered for it, and a public
    client presents no secret at all.
    """
    if presented == "client_secret_basic":
        return registered in ("client_secret_basic", "client_secret_post")
    return presented == registered


def _parse_basic(value: str) -> tuple[str, str]:
    try:
        decoded = binascii.a2b_base64(value.encode("ascii"), strict_mode=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidClient("malformed Basic credentials", used_basic=True) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise InvalidClient("malformed Basic credentials", used_basic=True)
    # §2.3.1: the id and secret are form-encoded before they are joined.
    try:
        return unquote_plus(client_id, errors="strict"), unquote_plus(secret, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidClient("malformed Basic credentials", used_basic=True) from exc


def presented_credentials(authorization: str | None, request: TokenRequest) -> PresentedCredentials:
    """The client's credentials from the Authorization header or the body, exactly one way."""
    body_id = request.get("client_id")
    body_secret = request.get("client_secret")
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            raise InvalidClient("unsupported authentication scheme", used_basic=True)
        client_id, secret = _parse_basic(value.strip())
        if body_secret is not None:
            # §2.3: a client MUST NOT use more than one authentication method per request.
            raise InvalidRequest("more than one client authentication method was used")
        if body_id is not None and body_id != client_id:
            raise InvalidRequest("client_id in the body differs from the authenticated client")
        return PresentedCredentials(client_id, secret, "client_secret_basic")
    if body_id is None:
        raise InvalidClient("client authentication is required")
    if body_secret is not None:
        return PresentedCredentials(body_id, body_secret, "client_secret_post")
    return PresentedCredentials(body_id, None, "none")
