"""ID token and UserInfo claims (OpenID Connect Core)."""

from __future__ import annotations

import base64
import hashlib

from timesheets.authserver.oauth.oidc import (
    api_identity_claims,
    at_hash,
    id_token_claims,
    profile_claims,
)


def test_at_hash_is_the_left_half_of_the_sha256_in_base64url() -> None:
    """§3.1.3.6: for RS256, the left-most 128 bits of SHA-256, base64url without padding."""
    token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"  # any ASCII access token
    expected = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()[:16])
    assert at_hash(token) == expected.rstrip(b"=").decode()
    assert len(at_hash(token)) == 22


def _claims(**extra: object) -> dict[str, object]:
    return id_token_claims(
        issuer="https://login.abc.example",
        subject="usr_1",
        client_id="spa",
        issued_at=1_000,
        lifetime=300,
        auth_time=900,
        nonce=extra.get("nonce"),  # type: ignore[arg-type]
        profile={"name": "Erin", "sub": "not-this"},
        access_token=extra.get("access_token"),  # type: ignore[arg-type]
    )


def test_id_token_claims() -> None:
    claims = _claims()
    assert claims == {
        "iss": "https://login.abc.example",
        "sub": "usr_1",
        "aud": "spa",
        "azp": "spa",
        "iat": 1_000,
        "exp": 1_300,
        "auth_time": 900,
        "name": "Erin",
    }
    with_both = _claims(nonce="n-1", access_token="t")
    assert (with_both["nonce"], with_both["at_hash"]) == ("n-1", at_hash("t"))


def test_profile_claims_follow_the_scopes() -> None:
    """§5.4: profile releases the name, email the address."""
    person = {"name": "Erin", "email": "erin@abc.example", "user_type": "Employee"}
    assert profile_claims(("openid",), **person) == {}
    assert profile_claims(("openid", "profile"), **person) == {
        "name": "Erin",
        "user_type": "Employee",
    }
    assert profile_claims(("email",), **person) == {
        "email": "erin@abc.example",
        "email_verified": False,
    }


def test_an_apis_token_names_the_person_only_with_profile() -> None:
    assert api_identity_claims(("openid", "profile"), name="Erin") == {"name": "Erin"}
    assert api_identity_claims(("openid", "email", "read:timesheets"), name="Erin") == {}
