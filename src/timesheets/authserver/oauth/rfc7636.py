"""Proof Key for Code Exchange (RFC 7636), S256 only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from timesheets.authserver.oauth.errors import InvalidGrant, InvalidRequest

# RFC 7636 §4.1-4.2: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
METHODS = ("S256",)


def check_challenge(challenge: str | None, method: str | None, *, required: bool) -> str | None:
    """The code challenge of an authorization request, or None where PKCE is optional.

    `plain` is refused (RFC 9700 §2.1.1): it protects nothing against a stolen request.
    """
    if challenge is None:
        if method is not None:
            raise InvalidRequest("code_challenge_method without code_challenge")
        if required:
            raise InvalidRequest("code_challenge is required (PKCE, RFC 7636)")
        return None
    if (method or "plain") not in METHODS:
        raise InvalidRequest("code_challenge_method must be S256")
    if not _VALUE.fullmatch(challenge):
        raise InvalidRequest("code_challenge must be 43-128 unreserved characters")
    return challenge


def s256(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(verifier: str | None, challenge: str | None) -> None:
    """Check the token request's verifier against the stored challenge (RFC 7636 §4.6)."""
    if challenge is None:
        if verifier is not None:
            # A verifier for a code issued without a challenge: a downgrade attempt.
            raise InvalidGrant("code_verifier sent for a code issued without PKCE")
        return
    if verifier is None or not _VALUE.fullmatch(verifier):
        raise InvalidGrant("a valid code_verifier is required")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
