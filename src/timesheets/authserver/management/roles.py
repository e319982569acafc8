"""`/api/v2/roles`: roles, their permissions and their members."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import admin, people
from timesheets.authserver.management import ceiling, views
from timesheets.authserver.management.access import Caller, require
from timesheets.authserver.management.etag import check_if_match, etag_of
from timesheets.authserver.management.paging import TOTAL, Limit, Offset
from timesheets.authserver.management.schemas import (
    Permission,
    Permissions,
    RoleCreate,
    RoleUpdate,
    RowId,
)
from timesheets.authserver.management.transaction import change, page, read
from timesheets.authserver.models import Role

router = APIRouter(prefix="/api/v2/roles", tags=["management: roles"])


async def _find(session: AsyncSession, role_id: int) -> Role:
    role = await session.get(Role, role_id, with_for_update=True)
    if role is None:
        raise admin.NotFound(f"no role {role_id}")
    return role


def _by_api(permissions: list[Permission]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for permission in permissions:
        grouped.setdefault(permission.resource_server_identifier, set()).add(
            permission.permission_name
        )
    return grouped


@router.get("")
async def list_roles(
    request: Request,
    response: Response,
    _caller: Annotated[Caller, Depends(require("read:roles"))],
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Every role, by name."""

    async def work(session: AsyncSession) -> tuple[list[dict[str, Any]], int]:
        rows, total = await page(session, select(Role).order_by(Role.name), limit, offset)
        return [await views.role(session, row) for row in rows], total

    items, total = await read(request, work)
    response.headers[TOTAL] = str(total)
    return items


@router.post("", status_code=201)
async def create_role(
    request: Request,
    response: Response,
    body: RoleCreate,
    caller: Annotated[Caller, Depends(require("create:roles"))],
) -> dict[str, Any]:
    """Create a role, optionally with permissions."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        await ceiling.permissions(session, caller, _by_api(body.permissions))
        permissions = {api: sorted(scopes) for api, scopes in _by_api(body.permissions).items()}
        role = await people.create_role(session, body.name, body.description, permissions)
        return await views.role(session, role)

    answer = await change(request, caller, work)
    response.headers["Location"] = f"{router.prefix}/{answer['id']}"
    return answer


@router.get("/{role_id}")
async def get_role(
    request: Request,
    response: Response,
    role_id: RowId,
    _caller: Annotated[Caller, Depends(require("read:roles"))],
) -> dict[str, Any]:
    """One role with its permissions."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        return await views.role(session, await _find(session, role_id))

    answer = await read(request, work)
    response.headers["ETag"] = etag_of(answer)
    return answer


@router.patch("/{role_id}")
async def update_role(
    request: Request,
    response: Response,
    role_id: RowId,
    body: RoleUpdate,
    caller: Annotated[Caller, Depends(require("update:roles"))],
) -> dict[str, Any]:
    """Rename a role or change its description (If-Match honoured)."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        role = await _find(session, role_id)
        check_if_match(request, await views.role(session, role))
        if body.name == people.ADMIN_ROLE:
            ceiling.within(caller, ceiling.EVERYTHING)
        await people.update_role(session, role.name, name=body.name, description=body.description)
        return await views.role(session, role)

    answer = await change(request, caller, work)
    response.headers["ETag"] = etag_of(answer)
    return answer


@router.delete("/{role_id}", status_code=204)
async def delete_role(
    request: Request,
    role_id: RowId,
    caller: Annotated[Caller, Depends(require("delete:roles"))],
) -> Response:
    """Delete a role; its members lose its permissions."""

    async def work(session: AsyncSession) -> None:
        role = await _find(session, role_id)
        check_if_match(request, await views.role(session, role))
        await people.delete_role(session, role.name)

    await change(request, caller, work)
    return Response(status_code=204)


async def _edit_permissions(
    session: AsyncSession, caller: Caller, role: Role, changes: Permissions, *, add: bool
) -> dict[str, Any]:
    held = await people.role_permissions(session, role.id)
    by_api = _by_api(changes.permissions)
    if add:
        await ceiling.permissions(session, caller, by_api)
    for api, scopes in by_api.items():
        current = set(held.get(api, []))
        if not add and not scopes <= current:
            missing = ", ".join(sorted(scopes - current))
            raise admin.NotFound(f"role {role.name!r} has no permission {missing} on {api}")
        wanted = current | scopes if add else current - scopes
        await people.set_permissions(session, role.name, api, sorted(wanted))
    return await views.role(session, role)


@router.post("/{role_id}/permissions")
async def add_role_permissions(
    request: Request,
    role_id: RowId,
    body: Permissions,
    caller: Annotated[Caller, Depends(require("update:roles"))],
) -> dict[str, Any]:
    """Add permissions (scopes of APIs) to a role."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        role = await _find(session, role_id)
        return await _edit_permissions(session, caller, role, body, add=True)

    return await change(request, caller, work)


@router.delete("/{role_id}/permissions")
async def remove_role_permissions(
    request: Request,
    role_id: RowId,
    body: Permissions,
    caller: Annotated[Caller, Depends(require("update:roles"))],
) -> dict[str, Any]:
    """Remove permissions from a role (404 for one it does not have: nothing is removed)."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        role = await _find(session, role_id)
        return await _edit_permissions(session, caller, role, body, add=False)

    return await change(request, caller, work)


@router.get("/{role_id}/users")
async def get_role_users(
    request: Request,
    role_id: RowId,
    _caller: Annotated[Caller, Depends(require("read:roles"))],
) -> list[dict[str, Any]]:
    """The people holding a role."""

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        members = await people.role_members(session, (await _find(session, role_id)).id)
        return [await views.user(session, user) for user in members]

    return await read(request, work)
