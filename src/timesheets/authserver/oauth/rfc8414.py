"""Authorization server metadata (RFC 8414 §2), also served as OpenID discovery."""

from __future__ import annotations

from typing import Any


def endpoint(issuer: str, path: str) -> str:
    """An endpoint URL under the issuer."""
    return issuer.rstrip("/") + path


def metadata(
    issuer: str,
    *,
    grant_types: tuple[str, ...],
    auth_methods: tuple[str, ...],
    signing_algs: tuple[str, ...],
    scopes: tuple[str, ...],
) -> dict[str, Any]:
    """The metadata document, describing exactly what this server supports."""
    return {
        "issuer": issuer,
        "token_endpoint": endpoint(issuer, "/oauth/token"),
        "jwks_uri": endpoint(issuer, "/.well-known/jwks.json"),
        "grant_types_supported": list(grant_types),
        "token_endpoint_auth_methods_supported": list(auth_methods),
        "scopes_supported": list(scopes),
        "response_types_supported": [],
        "service_documentation": endpoint(issuer, "/docs"),
        # Not an RFC 8414 member: the algorithms access tokens may be signed with.
        "access_token_signing_alg_values_supported": list(signing_algs),
    }
