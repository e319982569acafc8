"""The one Authorization header a request may carry (RFC 9110 §11.6.2)."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from timesheets.authorization_header import REPEATED, single_authorization
from timesheets.authserver.oauth.errors import InvalidRequest as OAuthInvalidRequest
from timesheets.bearer.errors import InvalidRequest as BearerInvalidRequest

RAW = [(b"host", b"api.example"), (b"authorization", b"Bearer abc"), (b"accept", b"*/*")]


@pytest.mark.parametrize("headers", [RAW, Headers(raw=RAW)], ids=["raw", "starlette"])
def test_the_one_value_is_returned(headers: Headers | list[tuple[bytes, bytes]]) -> None:
    assert single_authorization(headers, BearerInvalidRequest) == "Bearer abc"


@pytest.mark.parametrize("headers", [RAW[:1], Headers(raw=RAW[:1]), []], ids=str)
def test_without_the_header_it_is_none(headers: Headers | list[tuple[bytes, bytes]]) -> None:
    assert single_authorization(headers, BearerInvalidRequest) is None


def test_a_latin_1_value_is_decoded_as_starlette_does() -> None:
    raw = [(b"authorization", b"Basic \xe9")]
    assert single_authorization(raw, OAuthInvalidRequest) == Headers(raw=raw)["authorization"]


@pytest.mark.parametrize(
    "second",
    [b"Bearer abc", b"Bearer other", b"Basic dXNlcjpwYXNz", b""],
    ids=["same", "other token", "other scheme", "empty"],
)
@pytest.mark.parametrize("starlette", [False, True], ids=["raw", "starlette"])
@pytest.mark.parametrize("refusal", [BearerInvalidRequest, OAuthInvalidRequest])
def test_a_second_header_raises_the_callers_invalid_request(
    second: bytes, starlette: bool, refusal: type[Exception]
) -> None:
    raw = [*RAW, (b"x-request-id", b"r-1"), (b"authorization", second)]
    headers = Headers(raw=raw) if starlette else raw
    with pytest.raises(refusal) as raised:
        single_authorization(headers, refusal)
    assert type(raised.value) is refusal
    assert raised.value.description == REPEATED  # type: ignore[attr-defined]
    assert raised.value.error == "invalid_request"  # type: ignore[attr-defined]
    assert raised.value.status_code == 400  # type: ignore[attr-defined]


def test_an_empty_first_header_still_counts_as_one() -> None:
    with pytest.raises(BearerInvalidRequest):
        single_authorization([(b"authorization", b""), *RAW], BearerInvalidRequest)
