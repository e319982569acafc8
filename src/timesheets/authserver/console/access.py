"""Which scopes of an API an application may get: the scopes as checkboxes, as in the
original dashboard's "authorize the client" panel."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from timesheets.authserver import admin
from timesheets.authserver.console import versions
from timesheets.authserver.console.changes import FormPage, attempt, snapshot
from timesheets.authserver.console.forms import Posted
from timesheets.authserver.console.guard import CurrentAdmin
from timesheets.authserver.console.route import ConsoleRoute
from timesheets.authserver.console.views import Problem, done, missing, page

router = APIRouter(route_class=ConsoleRoute)
PATH = "/admin/applications/{client_id}/apis/{api_id}"


async def _access_page(
    request: Request, who: CurrentAdmin, client_id: str, api_id: str, problem: Problem | None = None
) -> Response:
    async with snapshot(request) as session:
        try:
            client = await admin.find_client(session, client_id)
            api = await admin.api_by_id(session, api_id)
        except admin.NotFound as error:
            return missing(request, who, error)
        grant = next(
            (g for _c, a, g in await admin.list_grants(session, client_id) if a.id == api.id), None
        )
        version = await versions.of_access(session, client_id, api_id)
    return page(
        request,
        who,
        "console/access.html",
        problem=problem,
        client=client,
        api=api,
        grant=grant,
        version=version,
    )


@router.get(PATH)
async def show_access(request: Request, who: CurrentAdmin, client_id: str, api_id: str) -> Response:
    """The API's scopes, ticked where the application is granted them."""
    return await _access_page(request, who, client_id, api_id)


@router.post(PATH)
async def save_access(
    request: Request, who: CurrentAdmin, form: Posted, client_id: str, api_id: str
) -> Response:
    """Authorize the application for exactly the ticked scopes."""
    scopes = form.all("scopes")
    here = FormPage(
        request,
        who,
        PATH.format(client_id=client_id, api_id=api_id),
        partial(_access_page, request, who, client_id, api_id),
        partial(versions.of_access, client_id=client_id, api_id=api_id),
    )

    async def work(session: AsyncSession) -> object:
        api = await admin.identifier_of(session, api_id)
        return await admin.add_grant(session, client_id, api, scopes)

    flash = f"Authorized with {len(set(scopes))} scope(s)."
    return await here.submit(form, "grant", work, flash=flash, fields=("scopes",), versioned=True)


@router.post(PATH + "/remove")
async def remove_access(
    request: Request, who: CurrentAdmin, form: Posted, client_id: str, api_id: str
) -> Response:
    """Withdraw the application's authorization for the API."""

    async def work(session: AsyncSession) -> None:
        await admin.remove_grant(session, client_id, await admin.identifier_of(session, api_id))

    removed = await attempt(request, who, form, "remove", work)
    if isinstance(removed, Problem):
        return await _access_page(request, who, client_id, api_id, removed)
    return done(request, f"/admin/applications/{client_id}", "Authorization removed.")
