"""The applications pages: create one by type (its secret shown once), change its settings,
rotate its secret, and see which APIs it is authorized for."""

from __future__ import annotations

from datetime import timedelta
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
from timesheets.authserver.console.views import Problem, done, missing, page, shown_once
from timesheets.authserver.models import Client
from timesheets.authserver.runtime import runtime_of

router = APIRouter(route_class=ConsoleRoute)
APP_TYPES = {
    "machine": "Machine to machine",
    "spa": "Single-page app",
    "native": "Native app",
    "regular_web": "Regular web app",
}
CREATE_FIELDS = ("name", "app_type", "redirect_uris", "web_origins")
SETTINGS_FIELDS = (
    "name",
    "token_endpoint_auth_method",
    "grant_types",
    "redirect_uris",
    "web_origins",
)


@router.get("/admin/applications")
async def application_list(request: Request, who: CurrentAdmin) -> Response:
    """Every application."""
    async with runtime_of(request).sessions() as session:
        clients = await admin.list_clients(session)
    return page(request, who, "console/applications.html", clients=clients, types=APP_TYPES)


async def _new_page(request: Request, who: CurrentAdmin, problem: Problem | None) -> Response:
    return page(request, who, "console/application_new.html", problem=problem, types=APP_TYPES)


@router.get("/admin/applications/new")
async def new_application(request: Request, who: CurrentAdmin) -> Response:
    """The form for a new application."""
    return await _new_page(request, who, None)


@router.post("/admin/applications")
async def create_application(request: Request, who: CurrentAdmin, form: Posted) -> Response:
    """Register an application; a confidential one's secret is shown this once."""
    created = await attempt(
        request,
        who,
        form,
        "create",
        lambda session: admin.create_client(
            session,
            name=form.get("name"),
            app_type=form.get("app_type"),
            redirect_uris=form.lines("redirect_uris"),
            web_origins=form.lines("web_origins"),
        ),
        CREATE_FIELDS,
    )
    if isinstance(created, Problem):
        return await _new_page(request, who, created)
    client = created.client
    path = f"/admin/applications/{client.client_id}"
    if created.secret is None:
        return done(request, path, f"Application {client.name} created.")
    return _secret_page(request, who, client, created.secret, "created")


def _secret_page(
    request: Request, who: CurrentAdmin, client: Client, secret: str, how: str
) -> Response:
    return shown_once(
        request,
        who,
        title=f"Application {client.name} {how}",
        client_id=client.client_id,
        label="Client secret",
        secret=secret,
        back=f"/admin/applications/{client.client_id}",
    )


async def _application_page(
    request: Request, who: CurrentAdmin, client_id: str, problem: Problem | None = None
) -> Response:
    async with snapshot(request) as session:
        try:
            client = await admin.find_client(session, client_id)
        except admin.NotFound as error:
            return missing(request, who, error)
        grants = {api.id: grant for _c, api, grant in await admin.list_grants(session, client_id)}
        apis = await admin.list_apis(session)
        version = await versions.of_application(session, client_id)
    return page(
        request,
        who,
        "console/application.html",
        problem=problem,
        client=client,
        version=version,
        types=APP_TYPES,
        public=client.token_endpoint_auth_method == "none",
        methods=admin.CONFIDENTIAL_METHODS,
        grant_types=admin.GRANT_TYPES_BY_APP_TYPE[client.app_type],
        access=[(api, grants.get(api.id)) for api in apis],
        secrets=[
            s for s in client.secrets if s.expires_at is None or s.expires_at > admin.now_utc()
        ],
    )


@router.get("/admin/applications/{client_id}")
async def show_application(request: Request, who: CurrentAdmin, client_id: str) -> Response:
    """An application: settings, secrets (never their values) and the APIs it may call."""
    return await _application_page(request, who, client_id)


def _page_of(request: Request, who: CurrentAdmin, client_id: str) -> FormPage:
    path = f"/admin/applications/{client_id}"
    return FormPage(
        request,
        who,
        path,
        partial(_application_page, request, who, client_id),
        partial(versions.of_application, client_id=client_id),
    )


@router.post("/admin/applications/{client_id}")
async def update_application(
    request: Request, who: CurrentAdmin, form: Posted, client_id: str
) -> Response:
    """Change an application's settings."""
    work = partial(
        admin.update_client,
        ref=client_id,
        name=form.get("name"),
        enabled=form.flag("enabled"),
        auth_method=form.get("token_endpoint_auth_method") or None,
        grant_types=tuple(form.all("grant_types")),
        redirect_uris=form.lines("redirect_uris"),
        web_origins=form.lines("web_origins"),
    )
    return await _page_of(request, who, client_id).submit(
        form,
        "settings",
        work,
        flash="Application saved.",
        fields=SETTINGS_FIELDS,
        versioned=True,
    )


@router.post("/admin/applications/{client_id}/rotate")
async def rotate_secret(
    request: Request, who: CurrentAdmin, form: Posted, client_id: str
) -> Response:
    """A new secret, shown this once; the old ones keep working for the overlap chosen."""

    async def work(session: AsyncSession) -> tuple[Client, str]:
        overlap = timedelta(seconds=form.whole_number("overlap", "The overlap"))
        client = await admin.find_client(session, client_id)
        return client, await admin.rotate_secret(session, client_id, overlap)

    rotated = await attempt(request, who, form, "rotate", work, ("overlap",))
    if isinstance(rotated, Problem):
        return await _application_page(request, who, client_id, rotated)
    return _secret_page(request, who, *rotated, "has a new secret")


@router.post("/admin/applications/{client_id}/delete")
async def delete_application(
    request: Request, who: CurrentAdmin, form: Posted, client_id: str
) -> Response:
    """Delete an application and its grants."""

    async def work(session: AsyncSession) -> str:
        name = (await admin.find_client(session, client_id)).name
        await admin.delete_client(session, client_id)
        return name

    return await _page_of(request, who, client_id).submit(
        form,
        "delete",
        work,
        flash=lambda name: f"Application {name} deleted.",
        then="/admin/applications",
    )
