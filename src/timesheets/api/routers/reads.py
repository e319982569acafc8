"""Reading, deleting and deciding on entries (FastAPI routes with scope dependencies)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AfterValidator

from timesheets.api import entries
from timesheets.api.context import ApiContext
from timesheets.api.domain.weeks import parse_week
from timesheets.api.errors import ApiError
from timesheets.api.openapi import BEARER_ERRORS, CONFLICT, DECISION_BODY, NOT_FOUND
from timesheets.api.repository import EntryFilter
from timesheets.api.routers.body import optional_json_body
from timesheets.bearer.claims import Principal
from timesheets.bearer.dependencies import require_scope
from timesheets.settings import PAGE_SIZE_LIMIT
from timesheets.storable_text import unstorable

router = APIRouter(responses=BEARER_ERRORS)
Reader = Annotated[Principal, Depends(require_scope("read:timesheets"))]
Deleter = Annotated[Principal, Depends(require_scope("delete:timesheets"))]
Approver = Annotated[Principal, Depends(require_scope("approve:timesheets"))]
Week = Annotated[
    str | None, Query(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W09")
]


def _storable(value: str | None) -> str | None:
    """A text filter, refused (422) with what PostgreSQL cannot compare."""
    if value is not None and (problem := unstorable(value)) is not None:
        raise ValueError(f"must not contain {problem}")
    return value


def _context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


@dataclass(frozen=True)
class Page:
    """Which page of a list: `limit` entries from `offset`."""

    limit: int
    offset: int


def _page(
    request: Request,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=PAGE_SIZE_LIMIT,
            description="Entries per page, at most the API's page_size_max",
        ),
    ] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page:
    """The page asked for, cut to the configured `page_size_max`."""
    return Page(min(limit, _context(request).settings.page_size_max), offset)


Paged = Annotated[Page, Depends(_page)]


async def _listed(
    request: Request, response: Response, principal: Principal, where: EntryFilter, page: Page
) -> list[dict[str, Any]]:
    """One page of the entries `where` selects, with their full count in X-Total-Count."""
    rows, total = await entries.list_(_context(request), principal, where, page.limit, page.offset)
    response.headers["X-Total-Count"] = str(total)
    return rows


def _week(name: str, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        return parse_week(value)
    except ValueError as error:
        raise ApiError(
            422, "Invalid query", errors=[{"field": name, "message": str(error)}]
        ) from None


@router.get(
    "/timesheets", summary="List timesheet entries (scope read:timesheets)", tags=["timesheets"]
)
async def list_timesheets(
    request: Request,
    response: Response,
    principal: Reader,
    page: Paged,
    user_id: Annotated[str | None, Query(max_length=100), AfterValidator(_storable)] = None,
    project: Annotated[str | None, Query(max_length=200), AfterValidator(_storable)] = None,
    status: Literal["submitted", "approved", "rejected"] | None = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    week_from: Week = None,
    week_to: Week = None,
) -> list[dict[str, Any]]:
    """Your entries; a manager's or machine's token sees everyone's. Stable order."""
    where = EntryFilter(
        user_id=user_id,
        project=project,
        status=status,
        date_from=date_from,
        date_to=date_to,
        week_from=_week("week_from", week_from),
        week_to=_week("week_to", week_to),
    )
    return await _listed(request, response, principal, where, page)


@router.get(
    "/timesheets/{entry_id}",
    summary="One timesheet entry (scope read:timesheets)",
    tags=["timesheets"],
    responses=NOT_FOUND,
)
async def get_timesheet(request: Request, entry_id: str, principal: Reader) -> dict[str, Any]:
    """One entry (404 for another person's)."""
    return await entries.get(_context(request), principal, entry_id)


@router.delete(
    "/timesheets/{entry_id}",
    status_code=204,
    summary="Delete an entry (scope delete:timesheets)",
    tags=["timesheets"],
    response_class=Response,
    responses=NOT_FOUND | CONFLICT,
)
async def delete_timesheet(request: Request, entry_id: str, principal: Deleter) -> Response:
    """Delete your entry; approved entries cannot be deleted (409)."""
    await entries.delete(_context(request), principal, entry_id)
    return Response(status_code=204)


@router.get(
    "/timesheets/{entry_id}/audit",
    summary="History of an entry (scope approve:timesheets)",
    tags=["timesheets"],
    responses=NOT_FOUND,
)
async def entry_audit(request: Request, entry_id: str, principal: Approver) -> list[dict[str, Any]]:
    """Who created, approved, rejected or deleted the entry, with which client, when."""
    return await entries.trail(_context(request), principal, entry_id)


@router.get(
    "/approvals",
    summary="Entries waiting for approval (scope approve:timesheets)",
    tags=["approvals"],
)
async def list_approvals(
    request: Request,
    response: Response,
    principal: Approver,
    page: Paged,
) -> list[dict[str, Any]]:
    """Every submitted entry, oldest first."""
    return await _listed(request, response, principal, EntryFilter(status="submitted"), page)


@router.put(
    "/approvals/{entry_id}",
    summary="Approve or reject an entry (scope approve:timesheets)",
    tags=["approvals"],
    responses=NOT_FOUND | CONFLICT,
    openapi_extra=DECISION_BODY,
)
async def decide(request: Request, entry_id: str, principal: Approver) -> dict[str, Any]:
    """Empty body approves; `{"decision": "reject", "reason": "..."}` rejects."""
    context = _context(request)
    data = await optional_json_body(request, context.settings.max_body_bytes)
    return await entries.decide(context, principal, entry_id, data)
