"""`/api/v2/clients`: applications, and the rotation of their secrets."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import admin
from timesheets.authserver.management import ceiling, views
from timesheets.authserver.management.access import Caller, require
from timesheets.authserver.management.etag import check_if_match, etag_of
from timesheets.authserver.management.paging import TOTAL, Limit, Offset
from timesheets.authserver.management.schemas import ClientCreate, ClientUpdate, SecretRotation
from timesheets.authserver.management.transaction import change, page, read
from timesheets.authserver.models import Client

router = APIRouter(prefix="/api/v2/clients", tags=["management: clients"])
NO_STORE = "no-store"


async def _find(session: AsyncSession, client_id: str) -> Client:
    client = await session.get(Client, client_id, with_for_update=True)
    if client is None:
        raise admin.NotFound(f"no client {client_id!r}")
    return client


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values is not None else None


@router.get("")
async def list_clients(
    request: Request,
    response: Response,
    _caller: Annotated[Caller, Depends(require("read:clients"))],
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Every client, by name."""

    async def work(session: AsyncSession) -> tuple[list[dict[str, Any]], int]:
        stmt = select(Client).order_by(Client.name, Client.client_id)
        rows, total = await page(session, stmt, limit, offset)
        return [views.client(row) for row in rows], total

    items, total = await read(request, work)
    response.headers[TOTAL] = str(total)
    return items


@router.post("", status_code=201)
async def create_client(
    request: Request,
    response: Response,
    body: ClientCreate,
    caller: Annotated[Caller, Depends(require("create:clients"))],
) -> dict[str, Any]:
    """Register a client; a confidential one's secret is in this answer only."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        created = await admin.create_client(
            session,
            name=body.name,
            app_type=body.app_type,
            auth_method=body.token_endpoint_auth_method,
            grant_types=_tuple(body.grant_types),
            redirect_uris=tuple(body.redirect_uris),
            web_origins=tuple(body.web_origins),
            first_party=body.first_party,
            post_logout_redirect_uris=tuple(body.post_logout_redirect_uris),
        )
        answer = views.client(created.client)
        if created.secret is not None:
            answer["client_secret"] = created.secret
        return answer

    answer = await change(request, caller, work)
    response.headers["Location"] = f"{router.prefix}/{answer['client_id']}"
    response.headers["Cache-Control"] = NO_STORE
    return answer


@router.get("/{client_id}")
async def get_client(
    request: Request,
    response: Response,
    client_id: str,
    _caller: Annotated[Caller, Depends(require("read:clients"))],
) -> dict[str, Any]:
    """One client."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        return views.client(await _find(session, client_id))

    answer = await read(request, work)
    response.headers["ETag"] = etag_of(answer)
    return answer


@router.patch("/{client_id}")
async def update_client(
    request: Request,
    response: Response,
    client_id: str,
    body: ClientUpdate,
    caller: Annotated[Caller, Depends(require("update:clients"))],
) -> dict[str, Any]:
    """Change a client (If-Match honoured); `enabled: false` shuts it out everywhere."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        client = await _find(session, client_id)
        check_if_match(request, views.client(client))
        await ceiling.client(session, caller, client.client_id)
        await admin.update_client(
            session,
            client.client_id,
            name=body.name,
            enabled=body.enabled,
            auth_method=body.token_endpoint_auth_method,
            grant_types=_tuple(body.grant_types),
            redirect_uris=_tuple(body.redirect_uris),
            web_origins=_tuple(body.web_origins),
            first_party=body.first_party,
            post_logout_redirect_uris=_tuple(body.post_logout_redirect_uris),
        )
        return views.client(client)

    answer = await change(request, caller, work)
    response.headers["ETag"] = etag_of(answer)
    return answer


@router.post("/{client_id}/rotate-secret")
async def rotate_client_secret(
    request: Request,
    response: Response,
    client_id: str,
    body: SecretRotation,
    caller: Annotated[Caller, Depends(require("update:clients"))],
) -> dict[str, Any]:
    """A new secret, in this answer only; the previous ones stop after `overlap_seconds`."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        client = await _find(session, client_id)
        check_if_match(request, views.client(client))
        await ceiling.client(session, caller, client.client_id)
        secret = await admin.rotate_secret(
            session, client.client_id, timedelta(seconds=body.overlap_seconds)
        )
        await session.flush()
        return views.client(client) | {"client_secret": secret}

    answer = await change(request, caller, work)
    response.headers["Cache-Control"] = NO_STORE
    return answer


@router.delete("/{client_id}", status_code=204)
async def delete_client(
    request: Request,
    client_id: str,
    caller: Annotated[Caller, Depends(require("delete:clients"))],
) -> Response:
    """Delete a client and its grants."""

    async def work(session: AsyncSession) -> None:
        client = await _find(session, client_id)
        check_if_match(request, views.client(client))
        await admin.delete_client(session, client.client_id)

    await change(request, caller, work)
    return Response(status_code=204)
