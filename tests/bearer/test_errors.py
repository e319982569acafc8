"""RFC 6750 §3 error responses: status codes, `WWW-Authenticate` challenges and bodies."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timesheets.bearer.dependencies import bearer_error_response
from timesheets.bearer.errors import (
    MESSAGE,
    BearerError,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    MissingToken,
)

# RFC 6750 §3: error_description = *( %x20-21 / %x23-5B / %x5D-7E )
DESCRIPTION_CHARS = re.compile(r"[\x20-\x21\x23-\x5B\x5D-\x7E]*")
# RFC 6750 §3 / RFC 9110 §11.6.1: a challenge of quoted auth-params without `"` or backslash.
CHALLENGE = re.compile(r'Bearer realm="[^"\\]*"(?:, [a-z_]+="[^"\\]*")*')
PARAM = re.compile(r'([a-z_]+)="([^"\\]*)"')


def params(challenge: str) -> dict[str, str]:
    """The auth-params of a `Bearer` challenge, asserting it parses cleanly."""
    assert CHALLENGE.fullmatch(challenge), challenge
    return dict(PARAM.findall(challenge))


def test_missing_token_has_a_bare_challenge() -> None:
    """RFC 6750 §3.1: without credentials the response SHOULD NOT include an error code."""
    error = MissingToken()
    assert error.status_code == 401
    assert error.error is None
    assert error.challenge() == 'Bearer realm="timesheets"'
    assert error.body() == {"message": "Missing or invalid token"}


def test_missing_token_never_reveals_an_error_in_the_challenge() -> None:
    """Even with a description, a MissingToken challenge carries no error attributes."""
    assert MissingToken("whatever").challenge() == 'Bearer realm="timesheets"'


def test_invalid_token_challenge() -> None:
    """RFC 6750 §3: error="invalid_token" with an error_description, status 401."""
    error = InvalidToken("the token has expired")
    assert error.status_code == 401
    assert error.challenge() == (
        'Bearer realm="timesheets", error="invalid_token", '
        'error_description="the token has expired"'
    )
    assert error.body() == {
        "message": MESSAGE,
        "error": "invalid_token",
        "error_description": "the token has expired",
    }
    assert MESSAGE == "Missing or invalid token"


def test_invalid_token_without_description() -> None:
    """No empty error_description attribute is sent."""
    error = InvalidToken()
    assert error.challenge() == 'Bearer realm="timesheets", error="invalid_token"'
    assert error.body() == {"message": MESSAGE, "error": "invalid_token"}


def test_invalid_request_is_400() -> None:
    """RFC 6750 §3.1: invalid_request → HTTP 400 (Bad Request)."""
    error = InvalidRequest("two methods")
    assert error.status_code == 400
    assert params(error.challenge()) == {
        "realm": "timesheets",
        "error": "invalid_request",
        "error_description": "two methods",
    }
    assert error.body()["message"] == MESSAGE


def test_insufficient_scope_is_403_with_scope() -> None:
    """RFC 6750 §3.1: insufficient_scope → 403, MAY include the scope attribute."""
    error = InsufficientScope("the read:timesheets scope is required", scope="read:timesheets")
    assert error.status_code == 403
    assert params(error.challenge()) == {
        "realm": "timesheets",
        "error": "insufficient_scope",
        "error_description": "the read:timesheets scope is required",
        "scope": "read:timesheets",
    }
    assert error.body() == {
        "message": "Insufficient scope",
        "error": "insufficient_scope",
        "error_description": "the read:timesheets scope is required",
    }


@pytest.mark.parametrize("cls", [MissingToken, InvalidToken, InvalidRequest, InsufficientScope])
def test_all_errors_are_bearer_errors(cls: type[BearerError]) -> None:
    """One base class lets every framework adapter answer with a challenge."""
    assert issubclass(cls, BearerError)


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ('bad "kid"', "bad ?kid?"),
        ("back\\slash", "back?slash"),
        ("line\r\nWWW-Authenticate: Basic", "line??WWW-Authenticate: Basic"),
        ("tab\there", "tab?here"),
        ("caf\u00e9", "caf?"),
        ("nul\x00del\x7f", "nul?del?"),
    ],
)
def test_description_is_sanitised_to_the_rfc_6750_charset(description: str, expected: str) -> None:
    """RFC 6750 §3: error_description excludes `"`, `\\`, controls and non-ASCII.

    Untrusted text (a kid, a claim) in a description cannot break the header or inject one.
    """
    error = InvalidToken(description)
    assert error.description == expected
    assert params(error.challenge())["error_description"] == expected
    assert "\r" not in error.challenge()
    assert "\n" not in error.challenge()


def test_description_is_bounded() -> None:
    """A long description (e.g. a reflected claim) is cut to 200 characters."""
    error = InvalidToken("x" * 10_000)
    assert error.description == "x" * 200


@settings(max_examples=200, deadline=None, database=None)
@given(st.text())
def test_any_description_yields_a_well_formed_challenge(text: str) -> None:
    """RFC 6750 §3: whatever the description, the challenge stays syntactically valid."""
    error = InvalidToken(text)
    assert DESCRIPTION_CHARS.fullmatch(error.description)
    assert len(error.description) <= 200
    parsed = params(error.challenge())
    assert parsed["error"] == "invalid_token"


def test_error_response_on_the_wire() -> None:
    """RFC 6750 §3: the challenge is in WWW-Authenticate; responses are not cached."""
    response = bearer_error_response(InvalidToken("the token has expired"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == InvalidToken("the token has expired").challenge()
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.body) == {
        "message": "Missing or invalid token",
        "error": "invalid_token",
        "error_description": "the token has expired",
    }


def test_missing_token_response_on_the_wire() -> None:
    """RFC 6750 §3.1: 401 with only the realm, and the generic message body."""
    response = bearer_error_response(MissingToken())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="timesheets"'
    assert json.loads(response.body) == {"message": "Missing or invalid token"}


def test_insufficient_scope_response_on_the_wire() -> None:
    """RFC 6750 §3.1: 403 with error="insufficient_scope" and the needed scope."""
    response = bearer_error_response(InsufficientScope("needs scope", scope="batch:upload"))
    assert response.status_code == 403
    assert 'scope="batch:upload"' in response.headers["www-authenticate"]
