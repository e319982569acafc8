"""RFC 6750 §3 errors and their `WWW-Authenticate` challenges."""

from __future__ import annotations

import re

REALM = "timesheets"
MESSAGE = "Missing or invalid token"
_UNSAFE = re.compile(r"[^\x20-\x21\x23-\x5B\x5D-\x7E]")


def _quoted(value: str) -> str:
    # RFC 6750 §3: error_description uses %x20-21 / %x23-5B / %x5D-7E only.
    return _UNSAFE.sub("?", value)[:200]


class BearerError(Exception):
    """A refused request: status, optional error code, and the challenge to send."""

    status_code = 401
    error: str | None = None
    message = MESSAGE

    def __init__(self, description: str = "", *, scope: str | None = None) -> None:
        super().__init__(description)
        self.description = _quoted(description)
        self.scope = scope

    def challenge(self) -> str:
        """The `WWW-Authenticate` value (RFC 6750 §3)."""
        parts = [f'Bearer realm="{REALM}"']
        if self.error:
            parts.append(f'error="{self.error}"')
            if self.description:
                parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return ", ".join(parts)

    def body(self) -> dict[str, str]:
        """The JSON body: the seed's message plus the error code."""
        body = {"message": self.message}
        if self.error:
            body["error"] = self.error
        if self.description:
            body["error_description"] = self.description
        return body


class MissingToken(BearerError):
    """No credentials: 401 with a bare challenge and no error code (RFC 6750 §3.1)."""


class InvalidToken(BearerError):
    """Expired, revoked, malformed or otherwise invalid token (RFC 6750 §3.1)."""

    error = "invalid_token"


class InvalidRequest(BearerError):
    """A malformed request, such as a token sent two ways (RFC 6750 §3.1)."""

    status_code = 400
    error = "invalid_request"


class InsufficientScope(BearerError):
    """A valid token without the scope the call needs (RFC 6750 §3.1)."""

    status_code = 403
    error = "insufficient_scope"
    message = "Insufficient scope"
