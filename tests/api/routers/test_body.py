"""Reading a request body within its limit, on a Request built by hand (a header an HTTP
server would refuse first can still reach an app behind another server)."""

from __future__ import annotations

import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive

from timesheets.api.errors import ApiError
from timesheets.api.routers.body import decoded, media_type_of, read_limited, receive_limited


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


def messages(*chunks: Message) -> Receive:
    queue = list(chunks)

    async def receive() -> Message:
        return queue.pop(0)

    return receive


def part(body: bytes, more: bool) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_a_body_in_parts_is_received_whole() -> None:
    receive = messages(part(b'{"a"', True), part(b"", True), part(b": 1}", False))
    assert await receive_limited(receive, None, 1024) == b'{"a": 1}'


async def test_a_declared_length_over_the_limit_is_413_before_anything_is_received() -> None:
    receive = messages()  # a receive would fail: nothing is queued
    with pytest.raises(ApiError) as refused:
        await receive_limited(receive, "1025", 1024)
    assert refused.value.status == 413


@pytest.mark.parametrize("declared", [None, "4"])
async def test_a_body_streamed_past_the_limit_is_413(declared: str | None) -> None:
    receive = messages(part(b"12", True), part(b"345", True), part(b"6", False))
    with pytest.raises(ApiError) as refused:
        await receive_limited(receive, declared, 4)
    assert refused.value.status == 413


async def test_messages_of_other_types_are_passed_over_as_request_stream_does() -> None:
    receive = messages({"type": "http.other"}, part(b"{}", True), {"type": "x"}, part(b"", False))
    assert await receive_limited(receive, None, 1024) == b"{}"


async def test_a_client_gone_before_the_end_of_the_body_is_a_disconnect() -> None:
    receive = messages(part(b"{", True), {"type": "http.disconnect"})
    with pytest.raises(ClientDisconnect):
        await receive_limited(receive, None, 1024)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("application/json", "application/json"),
        ("Application/JSON; charset=utf-8", "application/json"),
        ("  text/plain ;q=1", "text/plain"),
        ("", ""),
    ],
)
def test_the_media_type_is_the_value_before_its_parameters_in_lower_case(
    value: str, kind: str
) -> None:
    assert media_type_of(value) == kind


def test_a_malformed_body_is_400_naming_where() -> None:
    with pytest.raises(ApiError) as refused:
        decoded(b'{"a": }')
    assert refused.value.status == 400
    assert refused.value.message == "Malformed JSON: malformed JSON at line 1 column 7"
    assert decoded(b'{"a": 1}\n\n{"b": 2}\n', lines=True) == [{"a": 1}, {"b": 2}]
