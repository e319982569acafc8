"""The one Authorization header a request may carry.

RFC 9110 §5.3: a field may repeat only where its definition is a comma-separated list,
and Authorization (§11.6.2) is a single `credentials` value. A request carrying it twice
presents credentials more than one way: RFC 6750 §3.1 (a bearer token) and RFC 6749
§2.3, §5.2 (a client's credentials) answer that with 400 invalid_request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.datastructures import Headers

NAME = b"authorization"
REPEATED = "the Authorization header must be sent once"


def single_authorization(
    headers: Headers | Iterable[tuple[bytes, bytes]], refuse: Callable[[str], Exception]
) -> str | None:
    """The request's Authorization value, or None without one; `refuse(REPEATED)` is
    raised when the header occurs more than once (names arrive lower-case, as ASGI
    requires)."""
    raw = headers.raw if isinstance(headers, Headers) else headers
    found: bytes | None = None
    for name, value in raw:
        if name == NAME:
            if found is not None:
                raise refuse(REPEATED)
            found = value
    return None if found is None else found.decode("latin-1")
