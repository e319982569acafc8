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
    """RFC 8414 §2: issuer, token_endpoint, jwks_uri, response_types_supported and the rest."""
    assert document("https://auth.example") == {
        "issuer": "https://auth.example",
        "token_endpoint": "https://auth.example/oauth/token",
        "jwks_uri": "https://auth.example/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["read:timesheets", "create:timesheets"],
        "response_types_supported": [],
        "service_documentation": "https://auth.example/docs",
        "access_token_signing_alg_values_supported": ["RS256", "ES256"],
    }


def test_metadata_lists_are_json_arrays() -> None:
    meta = document("https://auth.example")
    for name, value in meta.items():
        if name.endswith("_supported"):
            assert isinstance(value, list), name


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
