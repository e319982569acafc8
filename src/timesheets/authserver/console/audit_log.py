"""The audit log page: events newest first, filtered, with paging to older ones."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from timesheets.authserver import audit
from timesheets.authserver.admin import TenantError
from timesheets.authserver.console.forms import Form
from timesheets.authserver.console.guard import CurrentAdmin
from timesheets.authserver.console.route import ConsoleRoute
from timesheets.authserver.console.views import page, refused
from timesheets.authserver.runtime import runtime_of

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50
FILTERS = ("kind", "actor", "subject", "outcome", "since", "until")
OUTCOMES = ("success", "failure")


def _when(form: Form, name: str) -> datetime | None:
    """A time filter: an ISO date and time, UTC unless it says otherwise."""
    text = form.get(name).strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise TenantError(
            f"{text!r} is not a date and time such as 2026-01-31T09:00", name
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _filters(form: Form) -> audit.Filters:
    outcome = form.get("outcome")
    if outcome and outcome not in OUTCOMES:
        raise TenantError(f"outcome must be one of {', '.join(OUTCOMES)}", "outcome")
    return audit.Filters(
        kinds=tuple(form.get("kind").replace(",", " ").split()),
        actor=form.get("actor").strip() or None,
        subject=form.get("subject").strip() or None,
        outcome=outcome or None,
        since=_when(form, "since"),
        until=_when(form, "until"),
    )


@router.get("/admin/audit")
async def audit_log(request: Request, who: CurrentAdmin) -> Response:
    """Who changed what and how people and clients authenticated, newest first."""
    query = Form(tuple(request.query_params.multi_items()))
    try:
        filters = _filters(query)
        before = (
            query.whole_number("before", "The paging position") if query.get("before") else None
        )
    except TenantError as error:
        return page(
            request,
            who,
            "console/audit.html",
            problem=refused(error, "filters", query, FILTERS),
            events=[],
            outcomes=OUTCOMES,
            older="",
        )
    async with runtime_of(request).sessions() as session:
        found = await audit.events(session, filters, before_id=before, limit=PAGE_SIZE)
    events = [audit.event_json(event) for event in found]
    kept = {name: query.get(name) for name in FILTERS if query.get(name)}
    older = (
        "/admin/audit?" + urlencode(kept | {"before": events[-1]["id"]})
        if len(events) == PAGE_SIZE
        else ""
    )
    return page(
        request,
        who,
        "console/audit.html",
        events=events,
        outcomes=OUTCOMES,
        older=older,
        filters=kept,
    )
