"""Reading request bodies within limits (413 before parsing, 415 for other media types)."""

from __future__ import annotations

from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from timesheets.api.errors import ApiError
from timesheets.api.json_body import MalformedBody, parse_json, parse_json_lines
from timesheets.header_numbers import declared_over
from timesheets.request_body import body_within

JSON_TYPES = ("application/json",)
JSON_LINES_TYPES = ("application/x-ndjson", "application/jsonl")


def media_type(request: Request) -> str:
    """The request's media type, lower-case, without parameters."""
    return media_type_of(request.headers.get("content-type", ""))


def media_type_of(content_type: str) -> str:
    """The media type of a `Content-Type` value, lower-case, without parameters."""
    return content_type.split(";")[0].strip().lower()


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 once it exceeds `limit` (declared or streamed)."""
    body = await body_within(request, limit)
    if body is None:
        raise too_large(limit)
    return body


async def receive_limited(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The body straight from the ASGI `receive`, within `limit` as `read_limited` holds
    it; a client gone before the end raises ClientDisconnect, as `Request.stream` does."""
    if declared_over(declared, limit):
        raise too_large(limit)
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.request":
            body += message.get("body", b"")
            if len(body) > limit:
                raise too_large(limit)
            if not message.get("more_body", False):
                return bytes(body)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


def too_large(limit: int) -> ApiError:
    """413: the body exceeds the API's limit."""
    return ApiError(413, f"Request body exceeds {limit} bytes")


async def optional_json_body(request: Request, limit: int) -> Any:
    """The parsed JSON body, or None when the body is empty (whatever its media type)."""
    body = await read_limited(request, limit)
    if not body:
        return None
    if media_type(request) not in JSON_TYPES:
        raise ApiError(415, "Content-Type must be application/json")
    return decoded(body)


async def json_body(request: Request, limit: int, *, lines: bool = False) -> Any:
    """The parsed JSON (or JSON Lines, as a list) body of a request."""
    kind = media_type(request)
    accepted = JSON_TYPES + (JSON_LINES_TYPES if lines else ())
    if kind not in accepted:
        raise ApiError(415, f"Content-Type must be {' or '.join(accepted)}")
    body = await read_limited(request, limit)
    return decoded(body, lines=kind in JSON_LINES_TYPES)


def decoded(body: bytes, *, lines: bool = False) -> Any:
    """The JSON (or JSON Lines, as a list) value of a body; 400 when it is malformed."""
    try:
        return parse_json_lines(body) if lines else parse_json(body)
    except MalformedBody as error:
        raise ApiError(400, f"Malformed JSON: {error}") from None
