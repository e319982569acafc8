"""Redeeming a code (RFC 6749 §4.1.3, RFC 7636 §4.6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from timesheets.authserver.oauth.errors import InvalidGrant, InvalidRequest
from timesheets.authserver.oauth.rfc6749_authorization_code import CodeView, check_code

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
REDIRECT = "https://spa.example.com/callback"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def _check(code: CodeView, **overrides: object) -> None:
    request: dict[str, object] = {
        "client_id": "spa",
        "redirect_uri": REDIRECT,
        "registered": (REDIRECT,),
        "verifier": VERIFIER,
        "now": NOW,
    }
    check_code(code, **(request | overrides))  # type: ignore[arg-type]


NAMED = CodeView("spa", REDIRECT, CHALLENGE, NOW + timedelta(minutes=1))
UNNAMED = CodeView("spa", "", CHALLENGE, NOW + timedelta(minutes=1))


def test_a_good_redemption() -> None:
    _check(NAMED)
    _check(UNNAMED)
    _check(UNNAMED, redirect_uri=None)


def test_a_redirect_uri_named_at_authorization_is_required_and_identical() -> None:
    with pytest.raises(InvalidRequest, match="required"):
        _check(NAMED, redirect_uri=None)
    with pytest.raises(InvalidGrant, match="does not match"):
        _check(NAMED, redirect_uri=REDIRECT + "/")


def test_one_not_named_may_be_sent_only_as_the_registered_one() -> None:
    with pytest.raises(InvalidGrant, match="does not match"):
        _check(UNNAMED, redirect_uri="https://evil.example/callback")


def test_another_client_or_a_late_redemption_is_invalid_grant() -> None:
    with pytest.raises(InvalidGrant, match="another client"):
        _check(NAMED, client_id="other")
    with pytest.raises(InvalidGrant, match="expired"):
        _check(NAMED, now=NOW + timedelta(minutes=1))


def test_the_verifier_must_match() -> None:
    with pytest.raises(InvalidGrant):
        _check(NAMED, verifier=None)
    with pytest.raises(InvalidGrant):
        _check(NAMED, verifier="x" * 43)
