"""The APIs pages: create an API, change its settings, add and remove its scopes."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from timesheets.authserver import admin
from timesheets.authserver.console import versions
from timesheets.authserver.console.changes import FormPage, attempt, snapshot
from timesheets.authserver.console.forms import Form, Posted
from timesheets.authserver.console.guard import HOME, CurrentAdmin
from timesheets.authserver.console.route import ConsoleRoute
from timesheets.authserver.console.views import Problem, done, missing, page, shown_once
from timesheets.authserver.keys import SIGNING_ALGS
from timesheets.authserver.models import ResourceServer
from timesheets.authserver.runtime import runtime_of

router = APIRouter(route_class=ConsoleRoute)
CREATE_FIELDS = ("name", "identifier", "signing_alg", "token_lifetime", "scopes")
LIFETIME = "The token lifetime"


@router.get(HOME)
async def home(_who: CurrentAdmin) -> Response:
    """The console opens on its APIs."""
    return RedirectResponse("/admin/apis", 303)


@router.get("/admin/apis")
async def api_list(request: Request, who: CurrentAdmin) -> Response:
    """Every API."""
    async with runtime_of(request).sessions() as session:
        apis = await admin.list_apis(session)
    return page(request, who, "console/apis.html", apis=apis)


async def _new_page(request: Request, who: CurrentAdmin, problem: Problem | None) -> Response:
    return page(
        request,
        who,
        "console/api_new.html",
        problem=problem,
        algs=[(alg, f"{alg} (recommended)" if alg == "RS256" else alg) for alg in SIGNING_ALGS],
        lifetime=admin.DEFAULT_TOKEN_LIFETIME,
    )


@router.get("/admin/apis/new")
async def new_api(request: Request, who: CurrentAdmin) -> Response:
    """The form for a new API."""
    return await _new_page(request, who, None)


def _scopes(form: Form) -> dict[str, str]:
    """The scopes text area: one a line, the scope then its description."""
    scopes = {}
    for line in form.lines("scopes"):
        value, _, description = line.partition(" ")
        scopes[value] = description.strip()
    return scopes


@router.post("/admin/apis")
async def create_api(request: Request, who: CurrentAdmin, form: Posted) -> Response:
    """Register an API; an HS256 API's secret is shown this once."""
    runtime = runtime_of(request)

    async def work(session: AsyncSession) -> admin.CreatedApi:
        return await admin.create_api(
            session,
            runtime.sealer,
            name=form.get("name"),
            identifier=form.get("identifier").strip(),
            signing_alg=form.get("signing_alg"),
            token_lifetime=form.whole_number("token_lifetime", LIFETIME),
            scopes=_scopes(form),
            permissions_claim=form.flag("permissions_claim"),
        )

    created = await attempt(request, who, form, "create", work, CREATE_FIELDS)
    if isinstance(created, Problem):
        return await _new_page(request, who, created)
    api = created.api
    if created.hs256_secret:
        return shown_once(
            request,
            who,
            title=f"API {api.name} created",
            label="HS256 signing secret (configure the API with it)",
            secret=created.hs256_secret,
            back=f"/admin/apis/{api.id}",
        )
    return done(request, f"/admin/apis/{api.id}", f"API {api.name} created.")


async def _clients_of(
    api: ResourceServer, request: Request
) -> list[tuple[str, str, list[str] | None]]:
    """The clients that may use client credentials, with their scopes of this API (None:
    not authorized)."""
    async with runtime_of(request).sessions() as session:
        granted = {
            c.client_id: g.scopes for c, a, g in await admin.list_grants(session) if a.id == api.id
        }
        clients = await admin.list_clients(session)
    return [
        (c.client_id, c.name, granted.get(c.client_id))
        for c in clients
        if "client_credentials" in c.grant_types or c.client_id in granted
    ]


async def _api_page(
    request: Request, who: CurrentAdmin, api_id: str, problem: Problem | None = None
) -> Response:
    async with snapshot(request) as session:
        try:
            api = await admin.api_by_id(session, api_id)
        except admin.NotFound as error:
            return missing(request, who, error)
        version = await versions.of_api(session, api_id)
    clients = await _clients_of(api, request)
    return page(
        request,
        who,
        "console/api.html",
        problem=problem,
        api=api,
        clients=clients,
        version=version,
    )


@router.get("/admin/apis/{api_id}")
async def show_api(request: Request, who: CurrentAdmin, api_id: str) -> Response:
    """An API: its settings, its scopes and which applications may use it."""
    return await _api_page(request, who, api_id)


def _page_of(request: Request, who: CurrentAdmin, api_id: str) -> FormPage:
    return FormPage(
        request,
        who,
        f"/admin/apis/{api_id}",
        partial(_api_page, request, who, api_id),
        partial(versions.of_api, api_id=api_id),
    )


@router.post("/admin/apis/{api_id}")
async def update_api(request: Request, who: CurrentAdmin, form: Posted, api_id: str) -> Response:
    """Change an API's name, token lifetime and permissions claim."""

    async def work(session: AsyncSession) -> ResourceServer:
        return await admin.update_api(
            session,
            await admin.identifier_of(session, api_id),
            name=form.get("name"),
            token_lifetime=form.whole_number("token_lifetime", LIFETIME),
            permissions_claim=form.flag("permissions_claim"),
        )

    return await _page_of(request, who, api_id).submit(
        form,
        "settings",
        work,
        flash="API saved.",
        fields=("name", "token_lifetime"),
        versioned=True,
    )


@router.post("/admin/apis/{api_id}/scopes")
async def add_scope(request: Request, who: CurrentAdmin, form: Posted, api_id: str) -> Response:
    """Add a scope to an API."""
    value, description = form.get("value").strip(), form.get("description").strip()

    async def work(session: AsyncSession) -> object:
        ref = await admin.identifier_of(session, api_id)
        return await admin.add_scope(session, ref, value, description)

    return await _page_of(request, who, api_id).submit(
        form,
        "add-scope",
        work,
        flash=f"Scope {value} added.",
        fields={"scopes": "value"},
        versioned=True,
    )


@router.post("/admin/apis/{api_id}/scopes/remove")
async def remove_scope(request: Request, who: CurrentAdmin, form: Posted, api_id: str) -> Response:
    """Remove a scope from an API and from every grant of it."""
    value = form.get("value")

    async def work(session: AsyncSession) -> None:
        await admin.remove_scope(session, await admin.identifier_of(session, api_id), value)

    return await _page_of(request, who, api_id).submit(
        form, "scopes", work, flash=f"Scope {value} removed."
    )


@router.post("/admin/apis/{api_id}/delete")
async def delete_api(request: Request, who: CurrentAdmin, form: Posted, api_id: str) -> Response:
    """Delete an API no application is authorized for."""

    async def work(session: AsyncSession) -> str:
        api = await admin.api_by_id(session, api_id)
        await admin.delete_api(session, api.identifier)
        return api.name

    return await _page_of(request, who, api_id).submit(
        form, "delete", work, flash=lambda name: f"API {name} deleted.", then="/admin/apis"
    )
