"""`/api/v2/logs`: the security audit log, read only, newest first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import audit
from timesheets.authserver.management.access import Caller, require
from timesheets.authserver.management.paging import Limit
from timesheets.authserver.management.transaction import read

router = APIRouter(prefix="/api/v2/logs", tags=["management: audit log"])


def _utc(moment: datetime | None) -> datetime | None:
    """A time without an offset is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get("")
async def list_log_events(
    request: Request,
    response: Response,
    _caller: Annotated[Caller, Depends(require("read:logs"))],
    kind: Annotated[list[str] | None, Query(max_length=40)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[str | None, Query(pattern="^(success|failure)$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,  # a BIGINT
    limit: Limit = 50,
) -> list[dict[str, Any]]:
    """Events matching every given filter; the next page is `before_id=<last id>`
    (`Link: rel="next"` says so)."""
    filters = audit.Filters(
        kinds=tuple(kind or ()),
        actor=actor,
        subject=subject,
        outcome=outcome,
        since=_utc(since),
        until=_utc(until),
    )

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        found = await audit.events(session, filters, before_id=before_id, limit=limit)
        return [audit.event_json(event) for event in found]

    items = await read(request, work)
    if len(items) == limit:
        query = request.query_params.multi_items()
        kept = [(k, v) for k, v in query if k != "before_id"] + [
            ("before_id", str(items[-1]["id"]))
        ]
        response.headers["Link"] = f'<{request.url.path}?{urlencode(kept)}>; rel="next"'
    return items
