"""Reading a request body within its limit, on a Request built by hand (a header an HTTP
server would refuse first can still reach an app behind another server)."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.types import Message

from timesheets.api.errors import ApiError
from timesheets.api.routers.body import read_limited


def request(length: bytes, body: bytes = b"{}") -> Request:
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "headers": [(b"content-length", length)]}
    return Request(scope, receive)


@pytest.mark.parametrize("length", ["²".encode("latin-1"), b"-1", b"1e3", b" 2"])
async def test_a_content_length_that_is_not_ascii_digits_is_refused_as_413(length: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        await read_limited(request(length), 1024)
    assert refused.value.status == 413


async def test_a_declared_length_within_the_limit_reads_the_body() -> None:
    assert await read_limited(request(b"2"), 1024) == b"{}"
