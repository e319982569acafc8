"""PKCE (RFC 7636): S256 only, the value rules, and the verification."""

from __future__ import annotations

import pytest

from timesheets.authserver.oauth.errors import InvalidGrant, InvalidRequest
from timesheets.authserver.oauth.rfc7636 import check_challenge, s256, verify

# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_s256_matches_the_rfc_example() -> None:
    assert s256(VERIFIER) == CHALLENGE


def test_a_good_challenge_is_kept() -> None:
    assert check_challenge(CHALLENGE, "S256", required=True) == CHALLENGE


def test_without_pkce_only_where_it_is_optional() -> None:
    assert check_challenge(None, None, required=False) is None
    with pytest.raises(InvalidRequest, match="required"):
        check_challenge(None, None, required=True)
    with pytest.raises(InvalidRequest, match="without code_challenge"):
        check_challenge(None, "S256", required=False)


@pytest.mark.parametrize("method", [None, "plain", "s256", "S512"])
def test_only_s256_is_accepted(method: str | None) -> None:
    """RFC 9700 §2.1.1: plain (also the default when no method is named) is refused."""
    with pytest.raises(InvalidRequest, match="S256"):
        check_challenge(CHALLENGE, method, required=True)


@pytest.mark.parametrize("challenge", ["a" * 42, "a" * 129, CHALLENGE[:-1] + "+", CHALLENGE + "="])
def test_challenge_values_outside_the_rfc_alphabet_or_length_are_refused(challenge: str) -> None:
    with pytest.raises(InvalidRequest, match="43-128"):
        check_challenge(challenge, "S256", required=True)


def test_verification() -> None:
    verify(VERIFIER, CHALLENGE)
    verify(None, None)
    with pytest.raises(InvalidGrant, match="does not match"):
        verify(VERIFIER[:-1] + "A", CHALLENGE)
    with pytest.raises(InvalidGrant, match="required"):
        verify(None, CHALLENGE)
    with pytest.raises(InvalidGrant, match="required"):
        verify("short", CHALLENGE)
    with pytest.raises(InvalidGrant, match="without PKCE"):
        verify(VERIFIER, None)
