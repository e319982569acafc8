"""`/api/v2/users`: people, and the roles they hold."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import admin, people
from timesheets.authserver.management import ceiling, views
from timesheets.authserver.management.access import Caller, require
from timesheets.authserver.management.etag import check_if_match, etag_of
from timesheets.authserver.management.paging import TOTAL, Limit, Offset
from timesheets.authserver.management.schemas import RoleNames, UserCreate, UserUpdate
from timesheets.authserver.management.transaction import change, page, read
from timesheets.authserver.models import User

router = APIRouter(prefix="/api/v2/users", tags=["management: users"])


async def _find(session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise admin.NotFound(f"no user {user_id!r}")
    return user


@router.get("")
async def list_users(
    request: Request,
    response: Response,
    _caller: Annotated[Caller, Depends(require("read:users"))],
    email: Annotated[str | None, Query(max_length=320)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """People by email, optionally the one with `email`."""

    async def work(session: AsyncSession) -> tuple[list[dict[str, Any]], int]:
        stmt = select(User).order_by(User.email)
        if email is not None:
            stmt = stmt.where(User.email == email.strip().lower())
        rows, total = await page(session, stmt, limit, offset)
        return [await views.user(session, row) for row in rows], total

    items, total = await read(request, work)
    response.headers[TOTAL] = str(total)
    return items


@router.post("", status_code=201)
async def create_user(
    request: Request,
    response: Response,
    body: UserCreate,
    caller: Annotated[Caller, Depends(require("create:users"))],
) -> dict[str, Any]:
    """Register a person (the password is stored as an argon2 hash)."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        user = await people.create_user(
            session,
            email=body.email,
            name=body.name,
            password=body.password,
            user_type=body.user_type,
        )
        return await views.user(session, user)

    answer = await change(request, caller, work)
    response.headers["Location"] = f"{router.prefix}/{answer['user_id']}"
    return answer


@router.get("/{user_id}")
async def get_user(
    request: Request,
    response: Response,
    user_id: str,
    _caller: Annotated[Caller, Depends(require("read:users"))],
) -> dict[str, Any]:
    """One person."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        return await views.user(session, await _find(session, user_id))

    answer = await read(request, work)
    response.headers["ETag"] = etag_of(answer)
    return answer


@router.patch("/{user_id}")
async def update_user(
    request: Request,
    response: Response,
    user_id: str,
    body: UserUpdate,
    caller: Annotated[Caller, Depends(require("update:users"))],
) -> dict[str, Any]:
    """Change a person's name, type, password or whether they may log in."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        user = await _find(session, user_id)
        check_if_match(request, await views.user(session, user))
        if body.enabled is not None or body.password is not None:
            await ceiling.person(session, caller, user)
        await people.update_user(session, user.id, name=body.name, user_type=body.user_type)
        if body.enabled is not None:
            await people.set_enabled(session, user.id, body.enabled)
        if body.password is not None:
            await people.set_password(session, user.id, body.password)
        return await views.user(session, user)

    answer = await change(request, caller, work)
    response.headers["ETag"] = etag_of(answer)
    return answer


@router.delete("/{user_id}", status_code=204)
async def delete_user(
    request: Request,
    user_id: str,
    caller: Annotated[Caller, Depends(require("delete:users"))],
) -> Response:
    """Delete a person with their roles and sessions."""

    async def work(session: AsyncSession) -> None:
        user = await _find(session, user_id)
        check_if_match(request, await views.user(session, user))
        await people.delete_user(session, user.id)

    await change(request, caller, work)
    return Response(status_code=204)


@router.get("/{user_id}/roles")
async def get_user_roles(
    request: Request,
    user_id: str,
    _caller: Annotated[Caller, Depends(require("read:users"))],
) -> list[str]:
    """The names of a person's roles."""

    async def work(session: AsyncSession) -> list[str]:
        return await people.user_roles(session, (await _find(session, user_id)).id)

    return await read(request, work)


async def _edit_roles(
    request: Request,
    caller: Caller,
    user_id: str,
    body: RoleNames,
    rule: Callable[[AsyncSession, str, str], Awaitable[None]],
    *,
    giving: bool,
) -> list[str]:
    async def work(session: AsyncSession) -> list[str]:
        user = await _find(session, user_id)
        if giving:
            await ceiling.person(session, caller, user)
            for role in body.roles:
                await ceiling.role(session, caller, await people.find_role(session, role))
        for role in body.roles:
            await rule(session, user.id, role)
        return await people.user_roles(session, user.id)

    return await change(request, caller, work)


@router.post("/{user_id}/roles")
async def assign_user_roles(
    request: Request,
    user_id: str,
    body: RoleNames,
    caller: Annotated[Caller, Depends(require("update:users"))],
) -> list[str]:
    """Give a person roles (by name or id); held ones stay."""
    return await _edit_roles(request, caller, user_id, body, people.assign_role, giving=True)


@router.delete("/{user_id}/roles")
async def remove_user_roles(
    request: Request,
    user_id: str,
    body: RoleNames,
    caller: Annotated[Caller, Depends(require("update:users"))],
) -> list[str]:
    """Take roles from a person (404 for one they do not hold: nothing is taken)."""
    return await _edit_roles(request, caller, user_id, body, people.unassign_role, giving=False)
