"""The helpers behind the bearer dependency, on Requests built by hand."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.types import Message

from timesheets.bearer.dependencies import _token_in_form_body

FORM = b"application/x-www-form-urlencoded"


def form_request(body: bytes, length: bytes) -> Request:
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    headers = [(b"content-type", FORM), (b"content-length", length)]
    return Request({"type": "http", "method": "POST", "headers": headers}, receive)


async def test_a_form_body_carrying_a_token_is_found() -> None:
    body = b"access_token=abc&x=1"
    assert await _token_in_form_body(form_request(body, str(len(body)).encode()))


@pytest.mark.parametrize("length", ["²".encode("latin-1"), b"-20", b""])
async def test_a_form_of_undeclared_or_odd_length_is_not_searched(length: bytes) -> None:
    assert not await _token_in_form_body(form_request(b"access_token=abc", length))
