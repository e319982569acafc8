"""Where a request carries its bearer token (RFC 6750 §2).

Only the Authorization header is accepted. A token in the URI query or form body
(§2.2, §2.3) is not, so such a request counts as unauthenticated, and a token sent both
ways is a malformed request (§3.1 invalid_request: "uses more than one method").
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from timesheets.bearer.errors import InvalidRequest, InvalidToken, MissingToken

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
MAX_TOKEN_BYTES = 8192


def token_from_request(authorization: str | None, query: str) -> str:
    """The bearer token of a request, or a MissingToken / InvalidRequest error."""
    in_query = bool(query) and any(
        name == "access_token" for name, _ in parse_qsl(query, keep_blank_values=True)
    )
    if authorization is None:
        raise MissingToken()
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        # RFC 9110 §11.1: the scheme is case-insensitive; other schemes are not ours.
        raise MissingToken()
    token = rest.strip()
    if not token or " " in token or not B64TOKEN.fullmatch(token):
        raise InvalidRequest("the Authorization header must hold exactly one bearer token")
    if in_query:
        raise InvalidRequest("the token must be sent in the Authorization header only")
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("the token is too large")
    return token
