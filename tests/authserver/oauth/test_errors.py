"""OAuth error responses (RFC 6749 §5.2, RFC 8707 §2): codes, statuses, bodies, descriptions."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timesheets.authserver.oauth.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    TooManyRequests,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedTokenType,
    safe_description,
)

# RFC 6749 §5.2: error_description characters are %x20-21 / %x23-5B / %x5D-7E.
ALLOWED = "".join(chr(c) for c in [0x20, 0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F)])
ALLOWED_RE = re.compile(r"[\x20-\x21\x23-\x5B\x5D-\x7E]*")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text: ok", "plain text: ok"),
        ("line\r\nbreak", "line??break"),
        ("a\nb", "a?b"),
        ("a\tb", "a?b"),
        ('say "hi"', "say ?hi?"),
        ("back\\slash", "back?slash"),
        ("caf\u00e9", "caf?"),
        ("emoji \U0001f600", "emoji ?"),
        ("nul\x00 del\x7f", "nul? del?"),
        ("", ""),
    ],
)
def test_safe_description_replaces_disallowed_characters(text: str, expected: str) -> None:
    """RFC 6749 §5.2: no CR, LF, TAB, `"`, `\\` or non-ASCII in error_description."""
    assert safe_description(text) == expected


def test_safe_description_keeps_every_allowed_character() -> None:
    assert safe_description(ALLOWED) == ALLOWED


def test_safe_description_is_at_most_300_characters() -> None:
    assert safe_description("x" * 1000) == "x" * 300


@given(st.text())
def test_safe_description_only_ever_contains_allowed_characters(text: str) -> None:
    """Property: whatever the input, the output fits §5.2 and keeps one character per input."""
    result = safe_description(text)
    assert ALLOWED_RE.fullmatch(result)
    assert len(result) == min(len(text), 300)


@given(st.text(alphabet=ALLOWED, max_size=300))
def test_safe_description_leaves_allowed_text_unchanged(text: str) -> None:
    assert safe_description(text) == text


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (InvalidRequest("d"), "invalid_request", 400),
        (InvalidClient("d"), "invalid_client", 401),
        (InvalidGrant("d"), "invalid_grant", 400),
        (UnauthorizedClient("d"), "unauthorized_client", 400),
        (UnsupportedGrantType("d"), "unsupported_grant_type", 400),
        (UnsupportedTokenType("d"), "unsupported_token_type", 400),
        (InvalidScope("d"), "invalid_scope", 400),
        (InvalidTarget("d"), "invalid_target", 400),
        (TooManyRequests("d", retry_after=5), "invalid_request", 429),
    ],
)
def test_each_error_has_its_code_and_status(error: OAuthError, code: str, status: int) -> None:
    """RFC 6749 §5.2 (400, or 401 for invalid_client), RFC 7009 §2.2.1, RFC 8707 §2."""
    assert isinstance(error, OAuthError)
    assert error.error == code
    assert error.status_code == status
    assert error.body() == {"error": code, "error_description": "d"}


def test_body_carries_the_sanitised_description() -> None:
    error = InvalidRequest('bad "value"\r\n')
    assert error.description == "bad ?value???"
    assert error.body() == {"error": "invalid_request", "error_description": "bad ?value???"}


def test_invalid_client_has_no_challenge_unless_basic_was_used() -> None:
    assert InvalidClient("d").used_basic is False
    assert InvalidClient("d", used_basic=True).used_basic is True


def test_too_many_requests_carries_retry_after() -> None:
    assert TooManyRequests("slow down", retry_after=17).retry_after == 17


def test_errors_are_exceptions_with_the_original_message() -> None:
    with pytest.raises(InvalidTarget, match="unknown API"):
        raise InvalidTarget("unknown API")
