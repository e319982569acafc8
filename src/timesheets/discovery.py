"""Where an issuer publishes its metadata (OpenID Connect Discovery §4, RFC 8414 §3.1)."""

from __future__ import annotations

from urllib.parse import urlsplit


def discovery_urls(issuer: str) -> list[str]:
    """OpenID discovery first, then RFC 8414 metadata (path inserted after the host)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    origin = f"{parts.scheme}://{parts.netloc}"
    return [
        f"{origin}{path}/.well-known/openid-configuration",
        f"{origin}/.well-known/oauth-authorization-server{path}",
    ]
