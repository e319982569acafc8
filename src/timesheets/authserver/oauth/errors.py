"""OAuth 2.0 errors, one class per error code (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 8707 §2)."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^\x20-\x21\x23-\x5B\x5D-\x7E]")


def safe_description(text: str) -> str:
    """An `error_description` limited to the characters RFC 6749 §5.2 allows.

    §5.2 permits %x20-21 / %x23-5B / %x5D-7E: no control characters, `"` or `\\`.
    """
    return _UNSAFE.sub("?", text)[:300]


class OAuthError(Exception):
    """An error the token endpoint answers as JSON with `Cache-Control: no-store`."""

    error = "invalid_request"
    status_code = 400

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = safe_description(description)

    def body(self) -> dict[str, str]:
        """The JSON body of the error response (RFC 6749 §5.2)."""
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    """A required parameter is missing, repeated or malformed."""

    error = "invalid_request"


class InvalidClient(OAuthError):
    """Client authentication failed (RFC 6749 §5.2): 401, with a Basic challenge if used."""

    error = "invalid_client"
    status_code = 401

    def __init__(self, description: str, *, used_basic: bool = False) -> None:
        super().__init__(description)
        self.used_basic = used_basic


class InvalidGrant(OAuthError):
    """The grant (code, refresh token) is invalid, expired, revoked or not the client's."""

    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    """The client may not use this grant type."""

    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """The grant type is not one this server supports."""

    error = "unsupported_grant_type"


class UnsupportedTokenType(OAuthError):
    """The server does not revoke tokens of the presented type (RFC 7009 §2.2.1)."""

    error = "unsupported_token_type"


class InvalidScope(OAuthError):
    """A requested scope is malformed, unknown or not granted."""

    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """The requested resource (audience) is missing, unknown or not permitted (RFC 8707 §2)."""

    error = "invalid_target"


class TooManyRequests(OAuthError):
    """Too many failed attempts; the caller must wait `retry_after` seconds."""

    error = "invalid_request"
    status_code = 429

    def __init__(self, description: str, *, retry_after: int) -> None:
        super().__init__(description)
        self.retry_after = retry_after


class ServerError(OAuthError):
    """The server cannot answer as it should (a signing key it cannot open): 500.

    RFC 6749 §4.1.2.1 and §4.2.2.1 define `server_error` for the authorization endpoint,
    which cannot answer 500 through a redirect. §5.2 has no such code for the token
    endpoint: answering it there, with 500, is our extension, so that a client reads one
    JSON error whatever went wrong.
    """

    error = "server_error"
    status_code = 500
