"""Reading a request body within a limit, on Requests built by hand."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.types import Message

from timesheets.request_body import body_within


def request(parts: list[bytes], length: bytes | None) -> tuple[Request, list[bytes]]:
    """A POST sending `parts` (Content-Length `length` unless None), and the parts it
    has received so far."""
    queue, received = list(parts), []

    async def receive() -> Message:
        received.append(queue.pop(0))
        return {"type": "http.request", "body": received[-1], "more_body": bool(queue)}

    headers = [] if length is None else [(b"content-length", length)]
    return Request({"type": "http", "method": "POST", "headers": headers}, receive), received


@pytest.mark.parametrize("length", [b"5", None])
async def test_a_body_at_the_limit_is_read_whole(length: bytes | None) -> None:
    incoming, _ = request([b"ab", b"", b"cde"], length)
    assert await body_within(incoming, 5) == b"abcde"


@pytest.mark.parametrize("length", [b"6", "²".encode("latin-1"), b"-1", b""])
async def test_a_declared_length_over_the_limit_or_odd_is_refused_unread(length: bytes) -> None:
    incoming, received = request([b"abcdef"], length)
    assert await body_within(incoming, 5) is None
    assert received == []


async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    incoming, received = request([b"abc", b"def", b"ghi"], None)
    assert await body_within(incoming, 5) is None
    assert received == [b"abc", b"def"]
