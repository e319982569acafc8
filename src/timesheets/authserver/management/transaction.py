"""Running one management request's work in one transaction, attributed to its caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from timesheets.authserver.management.access import Caller
from timesheets.authserver.runtime import runtime_of

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[T]]


async def read(request: Request, work: Work[T]) -> T:
    """Run a read."""
    async with runtime_of(request).sessions() as session:
        return await work(session)


async def change(request: Request, caller: Caller, work: Work[T]) -> T:
    """Run a change in one transaction (SQLite's write lock taken first), attributed to the
    caller in the audit log; this process drops its caches at once, others within
    `revision_check_seconds`."""
    async with runtime_of(request).change(caller.actor) as session:
        return await work(session)


async def count(session: AsyncSession, stmt: Select[*tuple[Any, ...]]) -> int:
    """How many rows `stmt` selects."""
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return int(total or 0)


async def page(
    session: AsyncSession, stmt: Select[Any], limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of the entities `stmt` selects (it must be ordered) and the total count."""
    rows = (await session.scalars(stmt.limit(limit).offset(offset))).all()
    return list(rows), await count(session, stmt)
