"""Read-only views of the tenant that the protocol logic decides on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ApiView:
    """An API (resource server) as the token endpoint sees it."""

    id: str
    identifier: str
    signing_alg: str
    token_lifetime: int
    scopes: frozenset[str]
    permissions_claim: bool = False
    hs256_secret: bytes | None = None


@dataclass(frozen=True)
class SecretView:
    """A stored client secret digest and when it stops working."""

    digest: bytes
    expires_at: datetime | None

    def active(self, now: datetime) -> bool:
        """Whether the secret still works at `now`."""
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class ClientView:
    """A client and its grants as the token endpoint sees them."""

    client_id: str
    name: str
    app_type: str
    auth_method: str
    grant_types: frozenset[str]
    secrets: tuple[SecretView, ...] = ()
    grants: Mapping[str, frozenset[str]] = field(default_factory=dict)
    redirect_uris: tuple[str, ...] = ()
    web_origins: tuple[str, ...] = ()
    first_party: bool = True
    post_logout_redirect_uris: tuple[str, ...] = ()

    def active_digests(self, now: datetime) -> list[bytes]:
        """Digests of the secrets that work at `now`."""
        return [s.digest for s in self.secrets if s.active(now)]
