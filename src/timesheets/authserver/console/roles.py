"""The roles pages: create a role, rename it, choose its permissions on each API."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from timesheets.authserver import admin, people
from timesheets.authserver.console import versions
from timesheets.authserver.console.changes import FormPage, attempt, snapshot
from timesheets.authserver.console.forms import Posted
from timesheets.authserver.console.guard import CurrentAdmin
from timesheets.authserver.console.route import ConsoleRoute
from timesheets.authserver.console.views import Problem, done, missing, page
from timesheets.authserver.models import Role
from timesheets.authserver.runtime import runtime_of

router = APIRouter(route_class=ConsoleRoute)


async def _roles_page(
    request: Request, who: CurrentAdmin, problem: Problem | None = None
) -> Response:
    async with runtime_of(request).sessions() as session:
        roles = [
            (role, len(await people.role_members(session, role.id)))
            for role in await people.list_roles(session)
        ]
    return page(request, who, "console/roles.html", problem=problem, roles=roles)


@router.get("/admin/roles")
async def role_list(request: Request, who: CurrentAdmin) -> Response:
    """Every role, and the form for a new one."""
    return await _roles_page(request, who)


@router.post("/admin/roles")
async def create_role(request: Request, who: CurrentAdmin, form: Posted) -> Response:
    """Create a role (its permissions are chosen on its page)."""
    name, description = form.get("name").strip(), form.get("description").strip()
    role = await attempt(
        request,
        who,
        form,
        "create",
        partial(people.create_role, name=name, description=description),
        ("name",),
    )
    if isinstance(role, Problem):
        return await _roles_page(request, who, role)
    return done(request, f"/admin/roles/{role.id}", f"Role {role.name} created.")


async def _role_name(session: AsyncSession, role_id: str) -> str:
    """The name of the role of a page address, for the rules."""
    return (await versions.role_by_id(session, role_id)).name


async def _role_page(
    request: Request, who: CurrentAdmin, role_id: str, problem: Problem | None = None
) -> Response:
    async with snapshot(request) as session:
        try:
            role = await people.find_role(session, await _role_name(session, role_id))
        except admin.NotFound as error:
            return missing(request, who, error)
        permissions = await people.role_permissions(session, role.id)
        members = await people.role_members(session, role.id)
        apis = await admin.list_apis(session)
        version = await versions.of_role(session, role_id)
    return page(
        request,
        who,
        "console/role.html",
        problem=problem,
        role=role,
        version=version,
        apis=[(api, permissions.get(api.identifier, [])) for api in apis],
        members=members,
    )


@router.get("/admin/roles/{role_id}")
async def show_role(request: Request, who: CurrentAdmin, role_id: str) -> Response:
    """A role: name, permissions on each API, members."""
    return await _role_page(request, who, role_id)


def _page_of(request: Request, who: CurrentAdmin, role_id: str) -> FormPage:
    return FormPage(
        request,
        who,
        f"/admin/roles/{role_id}",
        partial(_role_page, request, who, role_id),
        partial(versions.of_role, role_id=role_id),
    )


@router.post("/admin/roles/{role_id}")
async def update_role(request: Request, who: CurrentAdmin, form: Posted, role_id: str) -> Response:
    """Rename a role or change its description."""

    async def work(session: AsyncSession) -> Role:
        return await people.update_role(
            session,
            await _role_name(session, role_id),
            name=form.get("name").strip(),
            description=form.get("description").strip(),
        )

    return await _page_of(request, who, role_id).submit(
        form,
        "settings",
        work,
        flash="Role saved.",
        fields=("name",),
        versioned=True,
    )


@router.post("/admin/roles/{role_id}/permissions/{api_id}")
async def set_permissions(
    request: Request, who: CurrentAdmin, form: Posted, role_id: str, api_id: str
) -> Response:
    """Make the role's permissions on one API exactly the ticked scopes."""

    async def work(session: AsyncSession) -> None:
        name = await _role_name(session, role_id)
        api = await admin.identifier_of(session, api_id)
        await people.set_permissions(session, name, api, form.all("permissions"))

    return await _page_of(request, who, role_id).submit(
        form,
        f"permissions-{api_id}",
        work,
        flash="Permissions saved.",
        fields=("permissions",),
        versioned=True,
    )


@router.post("/admin/roles/{role_id}/delete")
async def delete_role(request: Request, who: CurrentAdmin, form: Posted, role_id: str) -> Response:
    """Delete a role; its holders lose its permissions."""

    async def work(session: AsyncSession) -> str:
        name = await _role_name(session, role_id)
        await people.delete_role(session, name)
        return name

    return await _page_of(request, who, role_id).submit(
        form, "delete", work, flash=lambda name: f"Role {name} deleted.", then="/admin/roles"
    )
