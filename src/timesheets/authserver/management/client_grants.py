"""`/api/v2/client-grants`: which client may get which scopes of which API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import admin
from timesheets.authserver.management import ceiling, views
from timesheets.authserver.management.access import Caller, require
from timesheets.authserver.management.etag import check_if_match, etag_of
from timesheets.authserver.management.paging import TOTAL, Limit, Offset
from timesheets.authserver.management.schemas import ClientGrantCreate, ClientGrantUpdate, RowId
from timesheets.authserver.management.transaction import change, count, read
from timesheets.authserver.models import Client, ClientGrant, ResourceServer

router = APIRouter(prefix="/api/v2/client-grants", tags=["management: client grants"])


async def _find(session: AsyncSession, grant_id: int) -> tuple[ClientGrant, str]:
    grant = await session.get(ClientGrant, grant_id, with_for_update=True)
    if grant is None:
        raise admin.NotFound(f"no client grant {grant_id}")
    api = await session.get(ResourceServer, grant.resource_server_id)
    return grant, api.identifier if api is not None else ""


@router.get("")
async def list_client_grants(
    request: Request,
    response: Response,
    _caller: Annotated[Caller, Depends(require("read:client_grants"))],
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    audience: Annotated[str | None, Query(max_length=600)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Grants, optionally of one client or one API."""

    async def work(session: AsyncSession) -> tuple[list[dict[str, Any]], int]:
        stmt = (
            select(ClientGrant, ResourceServer.identifier)
            .join(ResourceServer, ResourceServer.id == ClientGrant.resource_server_id)
            .join(Client, Client.client_id == ClientGrant.client_id)
            .order_by(Client.name, ResourceServer.identifier, ClientGrant.id)
        )
        if client_id is not None:
            stmt = stmt.where(ClientGrant.client_id == client_id)
        if audience is not None:
            stmt = stmt.where(ResourceServer.identifier == audience)
        total = await count(session, stmt)
        rows = (await session.execute(stmt.limit(limit).offset(offset))).all()
        return [views.client_grant(grant, identifier) for grant, identifier in rows], total

    items, total = await read(request, work)
    response.headers[TOTAL] = str(total)
    return items


@router.post("", status_code=201)
async def create_client_grant(
    request: Request,
    response: Response,
    body: ClientGrantCreate,
    caller: Annotated[Caller, Depends(require("create:client_grants"))],
) -> dict[str, Any]:
    """Grant a client scopes of an API (409 if it already has a grant for that API)."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        api = await admin.find_api(session, body.audience)
        await ceiling.grant(caller, api, body.scope)
        existing = await session.scalar(
            select(ClientGrant.id).where(
                ClientGrant.client_id == body.client_id, ClientGrant.resource_server_id == api.id
            )
        )
        if existing is not None:
            raise admin.Conflict(
                f"client {body.client_id!r} already has grant {existing} for this API; "
                "change its scopes with PATCH",
                "audience",
            )
        client = await admin.find_client(session, body.client_id)
        grant = await admin.add_grant(session, client.client_id, api.identifier, body.scope)
        return views.client_grant(grant, api.identifier)

    answer = await change(request, caller, work)
    response.headers["Location"] = f"{router.prefix}/{answer['id']}"
    return answer


@router.get("/{grant_id}")
async def get_client_grant(
    request: Request,
    response: Response,
    grant_id: RowId,
    _caller: Annotated[Caller, Depends(require("read:client_grants"))],
) -> dict[str, Any]:
    """One grant."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        return views.client_grant(*await _find(session, grant_id))

    answer = await read(request, work)
    response.headers["ETag"] = etag_of(answer)
    return answer


@router.patch("/{grant_id}")
async def update_client_grant(
    request: Request,
    response: Response,
    grant_id: RowId,
    body: ClientGrantUpdate,
    caller: Annotated[Caller, Depends(require("update:client_grants"))],
) -> dict[str, Any]:
    """Replace a grant's scopes (If-Match honoured)."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        grant, audience = await _find(session, grant_id)
        check_if_match(request, views.client_grant(grant, audience))
        await ceiling.grant(caller, await admin.find_api(session, audience), body.scope)
        updated = await admin.add_grant(session, grant.client_id, audience, body.scope)
        return views.client_grant(updated, audience)

    answer = await change(request, caller, work)
    response.headers["ETag"] = etag_of(answer)
    return answer


@router.delete("/{grant_id}", status_code=204)
async def delete_client_grant(
    request: Request,
    grant_id: RowId,
    caller: Annotated[Caller, Depends(require("delete:client_grants"))],
) -> Response:
    """Withdraw a grant."""

    async def work(session: AsyncSession) -> None:
        grant, audience = await _find(session, grant_id)
        check_if_match(request, views.client_grant(grant, audience))
        await admin.remove_grant(session, grant.client_id, audience)

    await change(request, caller, work)
    return Response(status_code=204)
