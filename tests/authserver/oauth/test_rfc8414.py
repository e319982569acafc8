"""Authorization server metadata (RFC 8414 §2, §3)."""

from __future__ import annotations

import pytest

from timesheets.authserver.oauth.rfc8414 import endpoint, metadata


def document(issuer: str) -> dict[str, object]:
    """The metadata of a server with one grant type and every asymmetric algorithm."""
    return metadata(
        issuer,
        grant_types=("client_credentials",),
        auth_methods=("client_secret_basic", "client_secret_post"),
        signing_algs=("RS256", "ES256"),
        scopes=("read:timesheets", "create:timesheets"),
    )


@pytest.mark.parametrize(
    ("issuer", "base"),
    [
        ("https://auth.example", "https://auth.example"),
        ("https://auth.example/", "https://auth.example"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://example.com/tenant-a", "https://example.com/tenant-a"),
        ("https://example.com/tenant-a/", "https://example.com/tenant-a"),
    ],
)
def test_endpoints_are_derived_from_the_issuer(issuer: str, base: str) -> None:
    meta = document(issuer)
    assert meta["token_endpoint"] == f"{base}/oauth/token"
    assert meta["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert meta["service_documentation"] == f"{base}/docs"


@pytest.mark.parametrize("issuer", ["https://auth.example", "https://auth.example/"])
def test_issuer_is_published_exactly_as_configured(issuer: str) -> None:
    """RFC 8414 §3.3: the issuer in the metadata is identical to the configured issuer."""
    assert document(issuer)["issuer"] == issuer


def test_metadata_describes_what_the_server_supports() -> None:
    """RFC 8414 §2 and OpenID Connect Discovery §3: endpoints and what each supports."""
    base = "https://auth.example"
    assert document(base) == {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "userinfo_endpoint": f"{base}/userinfo",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "end_session_endpoint": f"{base}/logout",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "scopes_supported": [
            "openid",
            "profile",
            "email",
            "offline_access",
            "read:timesheets",
            "create:timesheets",
        ],
        "response_types_supported": ["code", "token", "id_token token"],
        "response_modes_supported": ["query", "fragment"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "azp",
            "name",
            "email",
            "email_verified",
            "user_type",
        ],
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": f"{base}/docs",
        "access_token_signing_alg_values_supported": ["RS256", "ES256"],
    }


def test_metadata_lists_are_json_arrays() -> None:
    meta = document("https://auth.example")
    for name, value in meta.items():
        if name.endswith("_supported"):
            # RFC 9207 §3: the one *_supported member that is a boolean.
            expected = bool if name == "authorization_response_iss_parameter_supported" else list
            assert isinstance(value, expected), name


@pytest.mark.parametrize(
    ("issuer", "path", "expected"),
    [
        ("https://a.example", "/x", "https://a.example/x"),
        ("https://a.example/", "/x", "https://a.example/x"),
        ("https://a.example//", "/x", "https://a.example/x"),
    ],
)
def test_endpoint_joins_without_doubling_the_slash(issuer: str, path: str, expected: str) -> None:
    assert endpoint(issuer, path) == expected
