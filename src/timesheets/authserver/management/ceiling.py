"""No caller hands out more management power than it holds.

A grant or a role permission on the built-in management API may carry only scopes the
caller holds; the credentials of a person or client holding management scopes the caller
lacks (or of an administrator, who may use the admin console) are not the caller's to
change; a role is assigned only if the caller holds what it carries. Refusals are 403
`insufficient_scope` naming the scopes missing (RFC 6750 §3.1). Console sessions are full
administrators and do not pass through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import admin, people
from timesheets.authserver.management.access import Caller
from timesheets.authserver.models import ClientGrant, ResourceServer, Role, User
from timesheets.bearer.errors import InsufficientScope

EVERYTHING = frozenset(admin.MANAGEMENT_SCOPES)


def within(caller: Caller, wanted: Iterable[str]) -> None:
    """Refuse unless the caller holds every scope of `wanted`."""
    missing = sorted(set(wanted) - caller.scopes)
    if missing:
        raise InsufficientScope(
            f"this needs {', '.join(missing)}, which the caller does not hold",
            scope=" ".join(missing),
        )


async def _management_api(session: AsyncSession) -> ResourceServer | None:
    return await session.scalar(select(ResourceServer).where(ResourceServer.is_system))


async def grant(caller: Caller, api: ResourceServer, scopes: Iterable[str]) -> None:
    """A grant of `scopes` of `api` to a client."""
    if api.is_system:
        within(caller, scopes)


async def permissions(session: AsyncSession, caller: Caller, by_api: dict[str, set[str]]) -> None:
    """Permissions {API reference: scopes} given to a role."""
    for ref, scopes in by_api.items():
        await grant(caller, await admin.find_api(session, ref), scopes)


async def _of_management(session: AsyncSession, held: Mapping[str, Iterable[str]]) -> Iterable[str]:
    """The management scopes among permissions {API identifier: scopes}."""
    api = await _management_api(session)
    return held.get(api.identifier, ()) if api is not None else ()


async def role(session: AsyncSession, caller: Caller, target: Role) -> None:
    """Giving `target` to someone, or naming a role the administrators' role."""
    if target.name == people.ADMIN_ROLE:
        within(caller, EVERYTHING)
    within(caller, await _of_management(session, await people.role_permissions(session, target.id)))


async def person(session: AsyncSession, caller: Caller, user: User) -> None:
    """Setting the password of, enabling or disabling, or giving a role to `user`."""
    if people.ADMIN_ROLE in await people.user_roles(session, user.id):
        within(caller, EVERYTHING)
    within(caller, await _of_management(session, await people.user_permissions(session, user.id)))


async def client(session: AsyncSession, caller: Caller, client_id: str) -> None:
    """Changing the settings or secret of a client."""
    api = await _management_api(session)
    if api is None:
        return
    scopes = await session.scalar(
        select(ClientGrant.scopes).where(
            ClientGrant.client_id == client_id, ClientGrant.resource_server_id == api.id
        )
    )
    within(caller, scopes or [])
