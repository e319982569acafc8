"""The JSON of each management resource (no secret, no digest ever)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import people
from timesheets.authserver.models import (
    Client,
    ClientGrant,
    ResourceServer,
    Role,
    SigningKey,
    User,
)
from timesheets.authserver.store import key_record


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def resource_server(api: ResourceServer) -> dict[str, Any]:
    """An API with its scopes."""
    return {
        "id": api.id,
        "name": api.name,
        "identifier": api.identifier,
        "signing_alg": api.signing_alg,
        "token_lifetime": api.token_lifetime,
        "permissions_claim": api.permissions_claim,
        "is_system": api.is_system,
        "scopes": [
            {"value": s.value, "description": s.description}
            for s in sorted(api.scopes, key=lambda scope: scope.value)
        ],
        "created_at": _time(api.created_at),
    }


def client(row: Client) -> dict[str, Any]:
    """A client; of its secrets only when they were made and when they stop."""
    return {
        "client_id": row.client_id,
        "name": row.name,
        "app_type": row.app_type,
        "token_endpoint_auth_method": row.token_endpoint_auth_method,
        "grant_types": list(row.grant_types),
        "redirect_uris": list(row.redirect_uris),
        "web_origins": list(row.web_origins),
        "post_logout_redirect_uris": list(row.post_logout_redirect_uris),
        "enabled": row.enabled,
        "first_party": row.first_party,
        "secrets": [
            {"created_at": _time(s.created_at), "expires_at": _time(s.expires_at)}
            for s in row.secrets
        ],
        "created_at": _time(row.created_at),
    }


def client_grant(grant: ClientGrant, audience: str) -> dict[str, Any]:
    """Which scopes of which API a client may get."""
    return {
        "id": grant.id,
        "client_id": grant.client_id,
        "audience": audience,
        "scope": list(grant.scopes),
        "created_at": _time(grant.created_at),
    }


async def user(session: AsyncSession, row: User) -> dict[str, Any]:
    """A person with the names of their roles."""
    return {
        "user_id": row.id,
        "email": row.email,
        "name": row.name,
        "user_type": row.user_type,
        "enabled": row.enabled,
        "roles": await people.user_roles(session, row.id),
        "created_at": _time(row.created_at),
    }


async def role(session: AsyncSession, row: Role) -> dict[str, Any]:
    """A role with its permissions."""
    permissions = await people.role_permissions(session, row.id)
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "permissions": [
            {"resource_server_identifier": identifier, "permission_name": scope}
            for identifier, scopes in permissions.items()
            for scope in scopes
        ],
    }


def signing_key(row: SigningKey, now: datetime) -> dict[str, Any]:
    """A signing key's public part and lifecycle."""
    record = key_record(row)
    return {
        "kid": row.kid,
        "alg": row.alg,
        "state": record.state(now),
        "created_at": _time(row.created_at),
        "activated_at": _time(row.activated_at),
        "deactivated_at": _time(row.deactivated_at),
        "retire_at": _time(row.retire_at),
        "public_jwk": row.public_jwk,
    }
