"""Where a resource server takes the bearer token from (RFC 6750 §2).

Only the Authorization header (§2.1) is accepted; a token in the URI query (§2.3) does
not authenticate, and a token sent both ways is a malformed request (§3.1
invalid_request, "uses more than one method for including an access token").
"""

from __future__ import annotations

import pytest

from timesheets.bearer.errors import BearerError, InvalidRequest, InvalidToken, MissingToken
from timesheets.bearer.transport import MAX_TOKEN_BYTES, token_from_request

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"


def test_token_is_taken_from_the_authorization_header() -> None:
    """RFC 6750 §2.1: `Authorization: Bearer <b64token>`."""
    assert token_from_request(f"Bearer {TOKEN}", "") == TOKEN


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr", "Bearer"])
def test_the_scheme_is_case_insensitive(scheme: str) -> None:
    """RFC 9110 §11.1: the authentication scheme is a case-insensitive token."""
    assert token_from_request(f"{scheme} {TOKEN}", "") == TOKEN


def test_surrounding_whitespace_is_ignored() -> None:
    """Leading/trailing OWS around the field value is not part of the credentials."""
    assert token_from_request(f"  Bearer   {TOKEN}  ", "") == TOKEN


def test_b64token_may_end_with_padding() -> None:
    """RFC 6750 §2.1: b64token allows trailing `=`; the JWS parser refuses it later."""
    assert token_from_request("Bearer abc==", "") == "abc=="


def test_no_authorization_header_is_a_missing_token() -> None:
    """RFC 6750 §3.1: a request without credentials gets no error code."""
    with pytest.raises(MissingToken) as caught:
        token_from_request(None, "")
    assert caught.value.status_code == 401
    assert caught.value.error is None


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic dXNlcjpwYXNzd29yZA==",
        f"DPoP {TOKEN}",
        f"Token {TOKEN}",
        f"MAC {TOKEN}",
        f"Bearerx {TOKEN}",
        f"Bearer,{TOKEN}",
        TOKEN,
        "",
    ],
)
def test_other_schemes_are_a_missing_token(authorization: str) -> None:
    """Credentials of another scheme are not bearer credentials (RFC 6750 §3.1)."""
    with pytest.raises(MissingToken) as caught:
        token_from_request(authorization, "")
    assert type(caught.value) is MissingToken
    assert caught.value.error is None


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer ", "Bearer      ", " bearer "])
def test_bearer_without_a_token_is_an_invalid_request(authorization: str) -> None:
    """RFC 6750 §3.1 invalid_request: the request is missing a required parameter."""
    with pytest.raises(InvalidRequest) as caught:
        token_from_request(authorization, "")
    assert caught.value.status_code == 400
    assert caught.value.error == "invalid_request"
    assert "exactly one bearer token" in caught.value.description


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {TOKEN} {TOKEN}",
        f"Bearer {TOKEN}, Bearer {TOKEN}",
        f"Bearer {TOKEN},{TOKEN}",
        f"Bearer {TOKEN}\t{TOKEN}",
        'Bearer a"b',
        "Bearer <script>",
        "Bearer tok\u00e9n",
        "Bearer =abc",
        "Bearer abc=def",
    ],
)
def test_two_tokens_or_a_malformed_token_is_an_invalid_request(authorization: str) -> None:
    """RFC 6750 §2.1: credentials are exactly one b64token; anything else is malformed."""
    with pytest.raises(InvalidRequest) as caught:
        token_from_request(authorization, "")
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        "access_token=abc",
        "page=2&access_token=abc",
        "access_token=",
        "access_token",
        f"access_token={TOKEN}&access_token={TOKEN}",
    ],
)
def test_token_in_query_and_header_is_an_invalid_request(query: str) -> None:
    """RFC 6750 §3.1: more than one method of including the token is invalid_request."""
    with pytest.raises(InvalidRequest) as caught:
        token_from_request(f"Bearer {TOKEN}", query)
    assert caught.value.status_code == 400
    assert "Authorization header only" in caught.value.description


def test_percent_encoded_query_parameter_name_is_still_the_access_token() -> None:
    """RFC 6750 §2.3 / URL form decoding: `access%5Ftoken` names the access_token parameter.

    A framework decodes the query to `access_token=...`, so a header + query request spelled
    this way also uses two methods and must be refused like the plain spelling.
    """
    with pytest.raises(InvalidRequest):
        token_from_request(f"Bearer {TOKEN}", f"access%5Ftoken={TOKEN}")


@pytest.mark.parametrize("query", ["access_token=abc", f"x=1&access_token={TOKEN}"])
def test_token_only_in_query_is_a_missing_token(query: str) -> None:
    """RFC 6750 §2.3 is not supported: such a request is unauthenticated (no error code)."""
    with pytest.raises(MissingToken) as caught:
        token_from_request(None, query)
    assert caught.value.error is None


@pytest.mark.parametrize(
    "query", ["q=access_token", "my_access_token=1", "access_tokens=1", "ACCESS_TOKEN=1"]
)
def test_other_parameters_mentioning_access_token_are_ignored(query: str) -> None:
    """Only a parameter named exactly `access_token` counts as a second method."""
    assert token_from_request(f"Bearer {TOKEN}", query) == TOKEN


def test_token_of_the_maximum_size_is_accepted() -> None:
    """Tokens up to 8 KiB pass the transport; the JWS parser has the same bound."""
    token = "a" * MAX_TOKEN_BYTES
    assert token_from_request(f"Bearer {token}", "") == token


def test_oversized_token_is_an_invalid_token() -> None:
    """A token over 8 KiB is refused before any parsing (RFC 6750 §3.1 invalid_token)."""
    with pytest.raises(InvalidToken) as caught:
        token_from_request(f"Bearer {'a' * (MAX_TOKEN_BYTES + 1)}", "")
    assert caught.value.error == "invalid_token"
    assert "too large" in caught.value.description


def test_every_refusal_is_a_bearer_error() -> None:
    """Callers catch BearerError to answer with an RFC 6750 challenge."""
    for authorization, query in [(None, ""), ("Bearer", ""), (f"Bearer {TOKEN}", "access_token=")]:
        with pytest.raises(BearerError):
            token_from_request(authorization, query)
