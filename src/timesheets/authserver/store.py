"""Persistence reads the protocol needs: tenant views and signing keys."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver.keys import KeyRecord
from timesheets.authserver.models import Client, ClientGrant, ResourceServer, SigningKey
from timesheets.authserver.oauth.tenant import ApiView, ClientView, SecretView
from timesheets.authserver.sealing import Sealer


def api_view(api: ResourceServer, sealer: Sealer) -> ApiView:
    """The protocol's view of an API row; an HS256 secret is unsealed here."""
    secret = sealer.open(api.sealed_secret, f"api-secret:{api.id}") if api.sealed_secret else None
    return ApiView(
        id=api.id,
        identifier=api.identifier,
        signing_alg=api.signing_alg,
        token_lifetime=api.token_lifetime,
        scopes=frozenset(scope.value for scope in api.scopes),
        permissions_claim=api.permissions_claim,
        hs256_secret=secret,
    )


async def load_apis(session: AsyncSession, sealer: Sealer) -> dict[str, ApiView]:
    """Every API by identifier."""
    rows = (await session.scalars(select(ResourceServer))).all()
    return {row.identifier: api_view(row, sealer) for row in rows}


async def load_client(session: AsyncSession, client_id: str) -> ClientView | None:
    """An enabled client with its secrets and grants, or None."""
    client = await session.get(Client, client_id)
    if client is None or not client.enabled:
        return None
    grants = (
        await session.scalars(select(ClientGrant).where(ClientGrant.client_id == client_id))
    ).all()
    return ClientView(
        client_id=client.client_id,
        name=client.name,
        app_type=client.app_type,
        auth_method=client.token_endpoint_auth_method,
        grant_types=frozenset(client.grant_types),
        secrets=tuple(SecretView(s.digest, s.expires_at) for s in client.secrets),
        grants={g.resource_server_id: frozenset(g.scopes) for g in grants},
        redirect_uris=tuple(client.redirect_uris),
        web_origins=tuple(client.web_origins),
        first_party=client.first_party,
        post_logout_redirect_uris=tuple(client.post_logout_redirect_uris),
    )


def key_record(row: SigningKey) -> KeyRecord:
    """The lifecycle view of a stored key."""
    return KeyRecord(
        kid=row.kid,
        alg=row.alg,
        created_at=row.created_at,
        activated_at=row.activated_at,
        deactivated_at=row.deactivated_at,
        retire_at=row.retire_at,
        longest_lifetime=row.longest_lifetime,
    )


async def load_keys(session: AsyncSession) -> list[SigningKey]:
    """Every stored signing key, oldest first."""
    return list((await session.scalars(select(SigningKey).order_by(SigningKey.created_at))).all())
