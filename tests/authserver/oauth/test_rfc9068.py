"""JWT access token header and claims (RFC 9068 §2.1, §2.2)."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from timesheets.authserver.oauth.rfc9068 import (
    ACCESS_TOKEN_TYP,
    access_token_claims,
    access_token_header,
    machine_subject,
)

ISSUER = "https://auth.example"


def claims(**overrides: Any) -> dict[str, Any]:
    """Claims for a typical machine token; keyword arguments override."""
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "subject": "machine-1@clients",
        "client_id": "machine-1",
        "audiences": ("https://a.example",),
        "scopes": ("read:a", "write:a"),
        "issued_at": 1_700_000_000,
        "lifetime": 3600,
        "jti": "token-id-1",
    }
    values.update(overrides)
    return access_token_claims(**values)


def test_header_is_typed_at_jwt_with_kid() -> None:
    """RFC 9068 §2.1: `typ` is `at+jwt`."""
    assert ACCESS_TOKEN_TYP == "at+jwt"
    assert access_token_header("kid-1") == {"typ": "at+jwt", "kid": "kid-1"}


def test_claims_of_a_single_audience_token() -> None:
    """RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti (and scope, §2.2.3)."""
    assert claims() == {
        "iss": ISSUER,
        "sub": "machine-1@clients",
        "aud": "https://a.example",
        "client_id": "machine-1",
        "iat": 1_700_000_000,
        "exp": 1_700_003_600,
        "jti": "token-id-1",
        "scope": "read:a write:a",
    }


@pytest.mark.parametrize(
    ("audiences", "aud"),
    [
        (("https://a.example",), "https://a.example"),
        (("https://a.example", "https://b.example"), ["https://a.example", "https://b.example"]),
        (("urn:b", "urn:a", "urn:c"), ["urn:b", "urn:a", "urn:c"]),
    ],
)
def test_aud_is_a_string_for_one_api_and_a_list_for_several(
    audiences: tuple[str, ...], aud: str | list[str]
) -> None:
    """RFC 7519 §4.1.3 (used by RFC 9068 §2.2): aud is a string or an array of strings."""
    assert claims(audiences=audiences)["aud"] == aud


@pytest.mark.parametrize(("issued_at", "lifetime"), [(0, 1), (1_700_000_000, 600), (5, 86_400)])
def test_exp_is_iat_plus_lifetime(issued_at: int, lifetime: int) -> None:
    made = claims(issued_at=issued_at, lifetime=lifetime)
    assert made["iat"] == issued_at
    assert made["exp"] == issued_at + lifetime


@pytest.mark.parametrize(("scopes", "scope"), [((), ""), (("a",), "a"), (("b", "a"), "b a")])
def test_scope_is_space_delimited(scopes: tuple[str, ...], scope: str) -> None:
    """RFC 9068 §2.2.3: `scope` as in RFC 8693 §4.2, space-delimited."""
    assert claims(scopes=scopes)["scope"] == scope


def test_extra_claims_are_added() -> None:
    made = claims(extra={"gty": "client-credentials", "permissions": ["read:a"]})
    assert made["gty"] == "client-credentials"
    assert made["permissions"] == ["read:a"]
    assert made["iss"] == ISSUER


@pytest.mark.parametrize("client_id", ["machine-1", "AbC_123", "a@b"])
def test_machine_subject_is_client_id_at_clients(client_id: str) -> None:
    assert machine_subject(client_id) == f"{client_id}@clients"


def test_header_and_claims_survive_jwt_encoding() -> None:
    key = b"k" * 32
    made = claims(audiences=("https://a.example", "https://b.example"))
    token = jwt.encode(made, key, "HS256", headers=access_token_header("kid-9"))
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "at+jwt", "kid": "kid-9"}
    decoded = jwt.decode(
        token,
        key,
        algorithms=["HS256"],
        audience="https://b.example",
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert decoded == made
