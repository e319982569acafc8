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
        "authorization_endpoint": endpoint(issuer, "/authorize"),
        "token_endpoint": endpoint(issuer, "/oauth/token"),
        "jwks_uri": endpoint(issuer, "/.well-known/jwks.json"),
        "userinfo_endpoint": endpoint(issuer, "/userinfo"),
        "revocation_endpoint": endpoint(issuer, "/oauth/revoke"),
        "introspection_endpoint": endpoint(issuer, "/oauth/introspect"),
        "end_session_endpoint": endpoint(issuer, "/logout"),
        "grant_types_supported": list(grant_types),
        "token_endpoint_auth_methods_supported": list(auth_methods),
        "revocation_endpoint_auth_methods_supported": list(auth_methods),
        "introspection_endpoint_auth_methods_supported": [m for m in auth_methods if m != "none"],
        "scopes_supported": ["openid", "profile", "email", "offline_access", *scopes],
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
        "service_documentation": endpoint(issuer, "/docs"),
        # Not an RFC 8414 member: the algorithms access tokens may be signed with.
        "access_token_signing_alg_values_supported": list(signing_algs),
    }
