"""`/api/v2/resource-servers`: APIs and their scopes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import admin
from timesheets.authserver.management import ceiling, views
from timesheets.authserver.management.access import Caller, require
from timesheets.authserver.management.etag import check_if_match, etag_of
from timesheets.authserver.management.paging import TOTAL, Limit, Offset
from timesheets.authserver.management.schemas import ResourceServerCreate, ResourceServerUpdate
from timesheets.authserver.management.transaction import change, page, read
from timesheets.authserver.models import ResourceServer

router = APIRouter(prefix="/api/v2/resource-servers", tags=["management: resource servers"])


async def _find(session: AsyncSession, api_id: str) -> ResourceServer:
    api = await session.get(ResourceServer, api_id, with_for_update=True)
    if api is None:
        raise admin.NotFound(f"no API {api_id!r}")
    return api


@router.get("")
async def list_resource_servers(
    request: Request,
    response: Response,
    _caller: Annotated[Caller, Depends(require("read:resource_servers"))],
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Every API, by name."""

    async def work(session: AsyncSession) -> tuple[list[dict[str, Any]], int]:
        stmt = select(ResourceServer).order_by(ResourceServer.name, ResourceServer.id)
        rows, total = await page(session, stmt, limit, offset)
        return [views.resource_server(api) for api in rows], total

    items, total = await read(request, work)
    response.headers[TOTAL] = str(total)
    return items


@router.post("", status_code=201)
async def create_resource_server(
    request: Request,
    response: Response,
    body: ResourceServerCreate,
    caller: Annotated[Caller, Depends(require("create:resource_servers"))],
) -> dict[str, Any]:
    """Register an API, optionally with its test machine client granted every scope; an
    HS256 API's secret and the test client's secret are in this answer only."""

    if body.create_test_client:
        ceiling.within(caller, ("create:clients", "create:client_grants"))

    async def work(session: AsyncSession) -> dict[str, Any]:
        created = await admin.create_api(
            session,
            request.app.state.runtime.sealer,
            name=body.name,
            identifier=body.identifier,
            signing_alg=body.signing_alg,
            token_lifetime=body.token_lifetime,
            permissions_claim=body.permissions_claim,
            scopes={scope.value: scope.description for scope in body.scopes},
            create_test_client=body.create_test_client,
        )
        answer = views.resource_server(created.api)
        if created.hs256_secret is not None:
            answer["signing_secret"] = created.hs256_secret
        if created.test_client is not None:
            answer["test_client"] = {
                "client_id": created.test_client.client.client_id,
                "name": created.test_client.client.name,
                "client_secret": created.test_client.secret,
            }
        return answer

    answer = await change(request, caller, work)
    response.headers["Location"] = f"{router.prefix}/{answer['id']}"
    response.headers["Cache-Control"] = "no-store"
    return answer


@router.get("/{api_id}")
async def get_resource_server(
    request: Request,
    response: Response,
    api_id: str,
    _caller: Annotated[Caller, Depends(require("read:resource_servers"))],
) -> dict[str, Any]:
    """One API."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        return views.resource_server(await _find(session, api_id))

    answer = await read(request, work)
    response.headers["ETag"] = etag_of(answer)
    return answer


@router.patch("/{api_id}")
async def update_resource_server(
    request: Request,
    response: Response,
    api_id: str,
    body: ResourceServerUpdate,
    caller: Annotated[Caller, Depends(require("update:resource_servers"))],
) -> dict[str, Any]:
    """Change an API's name, lifetime, permissions claim or scopes (If-Match honoured)."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        api = await _find(session, api_id)
        check_if_match(request, views.resource_server(api))
        await admin.update_api(
            session,
            api.identifier,
            name=body.name,
            token_lifetime=body.token_lifetime,
            permissions_claim=body.permissions_claim,
        )
        if body.scopes is not None:
            await admin.set_scopes(
                session, api.identifier, {s.value: s.description for s in body.scopes}
            )
        await session.flush()
        await session.refresh(api)
        return views.resource_server(api)

    answer = await change(request, caller, work)
    response.headers["ETag"] = etag_of(answer)
    return answer


@router.delete("/{api_id}", status_code=204)
async def delete_resource_server(
    request: Request,
    api_id: str,
    caller: Annotated[Caller, Depends(require("delete:resource_servers"))],
) -> Response:
    """Delete an API no client is granted (409 while grants remain)."""

    async def work(session: AsyncSession) -> None:
        api = await _find(session, api_id)
        check_if_match(request, views.resource_server(api))
        await admin.delete_api(session, api.identifier)

    await change(request, caller, work)
    return Response(status_code=204)
