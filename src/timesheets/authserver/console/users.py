"""The users pages: create a person, change their name and type, disable them, set a
password, give and take roles."""

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
from timesheets.authserver.models import User
from timesheets.authserver.runtime import runtime_of

router = APIRouter(route_class=ConsoleRoute)
CREATE_FIELDS = ("email", "name", "password", "user_type")


@router.get("/admin/users")
async def user_list(request: Request, who: CurrentAdmin) -> Response:
    """Every user with their roles."""
    async with runtime_of(request).sessions() as session:
        users = [
            (u, await people.user_roles(session, u.id)) for u in await people.list_users(session)
        ]
    return page(request, who, "console/users.html", users=users)


async def _new_page(request: Request, who: CurrentAdmin, problem: Problem | None) -> Response:
    async with runtime_of(request).sessions() as session:
        roles = await people.list_roles(session)
    return page(
        request, who, "console/user_new.html", problem=problem, roles=roles, types=people.USER_TYPES
    )


@router.get("/admin/users/new")
async def new_user(request: Request, who: CurrentAdmin) -> Response:
    """The form for a new user."""
    return await _new_page(request, who, None)


@router.post("/admin/users")
async def create_user(request: Request, who: CurrentAdmin, form: Posted) -> Response:
    """Register a person with the roles ticked."""

    async def work(session: AsyncSession) -> User:
        user = await people.create_user(
            session,
            email=form.get("email"),
            name=form.get("name"),
            password=form.get("password"),
            user_type=form.get("user_type"),
        )
        for role in form.all("roles"):
            await people.assign_role(session, user.id, role)
        return user

    user = await attempt(request, who, form, "create", work, CREATE_FIELDS)
    if isinstance(user, Problem):
        return await _new_page(request, who, user)
    return done(request, f"/admin/users/{user.id}", f"User {user.email} created.")


async def _user_page(
    request: Request, who: CurrentAdmin, user_id: str, problem: Problem | None = None
) -> Response:
    async with snapshot(request) as session:
        try:
            user = await people.find_user(session, user_id)
        except admin.NotFound as error:
            return missing(request, who, error)
        held = await people.user_roles(session, user.id)
        roles = [role for role in await people.list_roles(session) if role.name not in held]
        version = await versions.of_user(session, user_id)
    return page(
        request,
        who,
        "console/user.html",
        problem=problem,
        user=user,
        version=version,
        held=held,
        roles=roles,
        types=people.USER_TYPES,
    )


@router.get("/admin/users/{user_id}")
async def show_user(request: Request, who: CurrentAdmin, user_id: str) -> Response:
    """A user: profile, status, roles."""
    return await _user_page(request, who, user_id)


def _page_of(request: Request, who: CurrentAdmin, user_id: str) -> FormPage:
    return FormPage(
        request,
        who,
        f"/admin/users/{user_id}",
        partial(_user_page, request, who, user_id),
        partial(versions.of_user, user_id=user_id),
    )


@router.post("/admin/users/{user_id}")
async def update_user(request: Request, who: CurrentAdmin, form: Posted, user_id: str) -> Response:
    """Change a user's name and type."""
    work = partial(
        people.update_user, ref=user_id, name=form.get("name"), user_type=form.get("user_type")
    )
    return await _page_of(request, who, user_id).submit(
        form,
        "profile",
        work,
        flash="User saved.",
        fields=("name", "user_type"),
        versioned=True,
    )


@router.post("/admin/users/{user_id}/enabled")
async def set_enabled(request: Request, who: CurrentAdmin, form: Posted, user_id: str) -> Response:
    """Disable a user (they can no longer sign in), or enable them again."""
    enabled = form.get("enabled") == "true"
    work = partial(people.set_enabled, ref=user_id, enabled=enabled)
    flash = "User enabled." if enabled else "User disabled."
    return await _page_of(request, who, user_id).submit(form, "enabled", work, flash=flash)


@router.post("/admin/users/{user_id}/password")
async def set_password(request: Request, who: CurrentAdmin, form: Posted, user_id: str) -> Response:
    """Give a user a new password."""
    work = partial(people.set_password, ref=user_id, password=form.get("password"))
    return await _page_of(request, who, user_id).submit(
        form, "password", work, flash="Password set.", fields=("password",)
    )


@router.post("/admin/users/{user_id}/roles")
async def assign_role(request: Request, who: CurrentAdmin, form: Posted, user_id: str) -> Response:
    """Give a user a role."""
    role = form.get("role")
    work = partial(people.assign_role, user_ref=user_id, role_name=role)
    return await _page_of(request, who, user_id).submit(
        form,
        "assign",
        work,
        flash=f"Role {role} given.",
        versioned=True,
    )


@router.post("/admin/users/{user_id}/roles/remove")
async def unassign_role(
    request: Request, who: CurrentAdmin, form: Posted, user_id: str
) -> Response:
    """Take a role from a user."""
    role = form.get("role")
    work = partial(people.unassign_role, user_ref=user_id, role_name=role)
    return await _page_of(request, who, user_id).submit(
        form, "roles", work, flash=f"Role {role} taken away."
    )


@router.post("/admin/users/{user_id}/delete")
async def delete_user(request: Request, who: CurrentAdmin, form: Posted, user_id: str) -> Response:
    """Delete a user with their roles, sessions and grants."""

    async def work(session: AsyncSession) -> str:
        email = (await people.find_user(session, user_id)).email
        await people.delete_user(session, user_id)
        return email

    return await _page_of(request, who, user_id).submit(
        form, "delete", work, flash=lambda email: f"User {email} deleted.", then="/admin/users"
    )
