"""A request body read within a limit, whether its length is declared or it is chunked."""

from __future__ import annotations

from starlette.requests import Request

from timesheets.header_numbers import declared_over


async def body_within(request: Request, limit: int) -> bytes | None:
    """The body, or None once it exceeds `limit` bytes: by its declared `Content-Length`
    (nothing is then received; a length that is not plain digits counts as too large) or
    as it streams in."""
    if declared_over(request.headers.get("content-length"), limit):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
