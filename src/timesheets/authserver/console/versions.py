"""The version of what an edit form shows, so that a save made against an older version is
refused instead of silently undoing someone else's change.

A version is the management API's strong ETag of the object's representation (RFC 9110
§8.8.3), so the console and `If-Match` share one notion of version. A form carries the
version it was shown with; the save computes the current one in its own transaction and
refuses any other (or none: a page from before versions existed).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import admin, people
from timesheets.authserver.console.forms import Form
from timesheets.authserver.management import views
from timesheets.authserver.management.etag import etag_of
from timesheets.authserver.models import Role

FIELD = "version"
STALE = (
    "Someone changed this since you opened it; reload to see their change, then apply yours again."
)


class Stale(admin.Conflict):
    """The form was shown with another version than the current one (409)."""


def check(form: Form, current: str) -> None:
    """Refuse a form that does not carry `current` as its version."""
    if form.get(FIELD) != current:
        raise Stale(STALE)


async def role_by_id(session: AsyncSession, role_id: str) -> Role:
    """The role of a page address (by id: a name may change)."""
    is_id = role_id.isascii() and role_id.isdigit() and len(role_id) <= 9
    role = await session.get(Role, int(role_id)) if is_id else None
    if role is None:
        raise admin.NotFound(f"no role {role_id!r}")
    return role


async def of_api(session: AsyncSession, api_id: str) -> str:
    """An API's version: its scopes included."""
    return etag_of(views.resource_server(await admin.api_by_id(session, api_id)))


async def of_application(session: AsyncSession, client_id: str) -> str:
    """An application's version: its secrets' times included, never their values."""
    return etag_of(views.client(await admin.find_client(session, client_id)))


async def of_access(session: AsyncSession, client_id: str, api_id: str) -> str:
    """The version of an application's access to an API: its grant, or that it has none."""
    client = await admin.find_client(session, client_id)
    api = await admin.api_by_id(session, api_id)
    grants = await admin.list_grants(session, client.client_id)
    grant = next((g for _c, a, g in grants if a.id == api.id), None)
    if grant is None:
        return etag_of({"client_id": client.client_id, "audience": api.identifier, "scope": None})
    return etag_of(views.client_grant(grant, api.identifier))


async def of_user(session: AsyncSession, user_id: str) -> str:
    """A user's version: name, type, status and roles."""
    return etag_of(await views.user(session, await people.find_user(session, user_id)))


async def of_role(session: AsyncSession, role_id: str) -> str:
    """A role's version: name, description and permissions."""
    return etag_of(await views.role(session, await role_by_id(session, role_id)))
