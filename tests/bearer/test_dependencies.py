"""The bearer check's search of a form body for a second token (RFC 6750 §2, §3.1), on
Requests built by hand."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request
from starlette.types import Message

from timesheets.bearer.claims import ClaimRules
from timesheets.bearer.dependencies import (
    FormTooLarge,
    VerifierUnavailable,
    _token_in_form_body,
    authenticate,
)
from timesheets.bearer.errors import InvalidRequest, InvalidToken, MissingToken
from timesheets.bearer.verifier import StaticKeys, TokenVerifier

FORM = b"application/x-www-form-urlencoded"
LIMIT = 64 * 1024
#: A form of 20 KB with `access_token` last, past the 16 KiB that used to be searched.
LARGE = b"note=" + b"x" * 20_000 + b"&access_token=abc"
HEADER_ONLY = "the token must be sent in the Authorization header only"
VERIFIER = TokenVerifier(
    ClaimRules(issuer="https://issuer.example", audience="https://api.example"),
    frozenset({"RS256"}),
    StaticKeys(),
)


class Incoming:
    """A request sending `parts` as its body, and the parts it has received so far."""

    def __init__(
        self,
        parts: list[bytes],
        *,
        method: str = "DELETE",
        content_type: bytes | None = FORM,
        length: bytes | None = None,
        authorization: bytes | None = b"Bearer abc",
    ) -> None:
        self.queue = list(parts)
        self.received: list[bytes] = []
        headers = [
            (name, value)
            for name, value in (
                (b"authorization", authorization),
                (b"content-type", content_type),
                (b"content-length", length),
            )
            if value is not None
        ]
        scope = {"type": "http", "method": method, "headers": headers, "query_string": b""}
        self.request = Request(scope, self.receive)

    async def receive(self) -> Message:
        self.received.append(self.queue.pop(0))
        return {"type": "http.request", "body": self.received[-1], "more_body": bool(self.queue)}


def declared(body: bytes, **options: Any) -> Incoming:
    """A request whose body is sent in one part with its Content-Length."""
    return Incoming([body], length=str(len(body)).encode(), **options)


def chunked(body: bytes, size: int = 4096, **options: Any) -> Incoming:
    """A request whose body is sent in parts without a Content-Length."""
    parts = [body[start : start + size] for start in range(0, len(body), size)]
    return Incoming(parts, **options)


@pytest.mark.parametrize("send", [declared, chunked])
@pytest.mark.parametrize("method", ["DELETE", "PUT", "POST", "GET"])
async def test_a_token_anywhere_in_a_form_of_any_method_is_found(send: type, method: str) -> None:
    assert await _token_in_form_body(send(LARGE, method=method).request, LIMIT)


@pytest.mark.parametrize(
    "body",
    [
        b"access_token=abc&x=1",
        b"x=1&access_token=",
        b"access_token",
        b"access%5Ftoken=abc",
    ],
)
async def test_every_spelling_of_the_parameter_is_found(body: bytes) -> None:
    assert await _token_in_form_body(declared(body).request, LIMIT)


@pytest.mark.parametrize("send", [declared, chunked])
async def test_a_form_without_a_token_is_kept_for_the_endpoint(send: type) -> None:
    body = b"access_tokens=1&token=abc&" + b"x" * 20_000
    incoming = send(body)
    assert not await _token_in_form_body(incoming.request, LIMIT)
    assert b"".join(incoming.received) == body
    assert await incoming.request.body() == body
    assert [part async for part in incoming.request.stream()] == [body, b""]


@pytest.mark.parametrize("content_type", [None, b"application/json", b"multipart/form-data"])
async def test_a_body_of_another_media_type_is_not_read(content_type: bytes | None) -> None:
    incoming = declared(b"access_token=abc", content_type=content_type)
    assert not await _token_in_form_body(incoming.request, LIMIT)
    assert incoming.received == []


async def test_the_media_type_is_matched_without_case_or_parameters() -> None:
    content_type = b"Application/X-WWW-Form-URLEncoded; charset=UTF-8"
    assert await _token_in_form_body(
        declared(b"access_token=a", content_type=content_type).request, LIMIT
    )


async def test_a_form_at_the_limit_is_searched_to_its_end() -> None:
    body = b"x=" + b"y" * (LIMIT - len(b"x=&access_token=a")) + b"&access_token=a"
    assert len(body) == LIMIT
    for send in (declared, chunked):
        assert await _token_in_form_body(send(body).request, LIMIT)


@pytest.mark.parametrize("length", [str(LIMIT + 1).encode(), "²".encode("latin-1"), b"-1"])
async def test_a_form_declared_over_the_limit_or_oddly_is_refused_unread(length: bytes) -> None:
    incoming = Incoming([b"x=1"], length=length)
    with pytest.raises(FormTooLarge, match=f"Request body exceeds {LIMIT} bytes") as refused:
        await _token_in_form_body(incoming.request, LIMIT)
    assert refused.value.limit == LIMIT
    assert incoming.received == []


async def test_a_chunked_form_is_refused_once_it_passes_the_limit() -> None:
    incoming = chunked(b"x=" + b"y" * (3 * LIMIT), size=LIMIT)
    with pytest.raises(FormTooLarge):
        await _token_in_form_body(incoming.request, LIMIT)
    assert len(incoming.received) == 2


@pytest.mark.parametrize("send", [declared, chunked])
async def test_a_header_token_beside_a_form_token_is_invalid_request(send: type) -> None:
    with pytest.raises(InvalidRequest, match=HEADER_ONLY):
        await authenticate(send(LARGE).request, VERIFIER, "delete:timesheets", form_limit=LIMIT)


async def test_without_a_bearer_header_a_form_token_counts_as_none_and_is_not_read() -> None:
    for authorization in (None, b"Basic dXNlcjpwYXNz"):
        incoming = chunked(LARGE, authorization=authorization)
        with pytest.raises(MissingToken):
            await authenticate(incoming.request, VERIFIER, None, form_limit=LIMIT)
        assert incoming.received == []


async def test_a_form_without_a_token_goes_on_to_the_token_check() -> None:
    incoming = chunked(b"x=" + b"y" * 20_000)
    with pytest.raises(InvalidToken, match="not a compact JWS"):
        await authenticate(incoming.request, VERIFIER, None, form_limit=LIMIT)


async def test_the_form_limit_defaults_to_16_kib() -> None:
    with pytest.raises(FormTooLarge, match="exceeds 16384 bytes"):
        await authenticate(chunked(LARGE).request, VERIFIER, None)


@pytest.mark.parametrize(("wait", "seconds"), [(10.0, 10), (6.2, 7), (0.3, 1), (0.0, 1)])
def test_keys_unavailable_asks_for_a_retry_once_the_issuer_may_be_asked_again(
    wait: float, seconds: int
) -> None:
    """Retry-After is in whole seconds (RFC 9110 §10.2.3): rounded up, and never 0, so
    a client does not come back before the issuer is asked again."""
    assert VerifierUnavailable("no keys", wait).retry_after == seconds
