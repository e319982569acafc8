"""The rules for users and roles: create, disable, set passwords, assign roles.

Like `admin.py`, each function works in the caller's session and transaction.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import audit
from timesheets.authserver.admin import Conflict, NotFound, TenantError, find_api, now_utc
from timesheets.authserver.models import ResourceServer, Role, RolePermission, User, UserRole
from timesheets.authserver.passwords import hash_password

USER_TYPES = ("Employee", "Contractor")
#: The role whose holders may use the admin console.
ADMIN_ROLE = "Admin"
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")


def select_user_by_email(email: str) -> Select[User]:
    """The query for a user by email (lower-cased)."""
    return select(User).where(User.email == email.strip().lower())


async def find_user(session: AsyncSession, ref: str) -> User:
    """A user by email (any case) or id."""
    user = await session.scalar(
        select(User).where((User.email == ref.strip().lower()) | (User.id == ref))
    )
    if user is None:
        raise NotFound(f"no user {ref!r}")
    return user


async def list_users(session: AsyncSession) -> list[User]:
    """Every user, by email."""
    return list((await session.scalars(select(User).order_by(User.email))).all())


async def create_user(
    session: AsyncSession, *, email: str, name: str, password: str, user_type: str = "Employee"
) -> User:
    """Register a person; the password is stored as an argon2 hash."""
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise TenantError(f"{email!r} is not an email address", "email")
    if user_type not in USER_TYPES:
        raise TenantError(f"user type must be one of {', '.join(USER_TYPES)}", "user_type")
    if not name.strip() or len(name) > 200:
        raise TenantError("a user needs a name of 1-200 characters", "name")
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with email {email} already exists", "email")
    try:
        password_hash = hash_password(password)
    except ValueError as error:
        raise TenantError(str(error), "password") from None
    user = User(
        id="usr_" + secrets.token_hex(10),
        email=email,
        name=name.strip(),
        password_hash=password_hash,
        user_type=user_type,
        enabled=True,
        created_at=now_utc(),
    )
    session.add(user)
    await session.flush()
    await audit.change(session, "user.created", user.id, email=email, user_type=user_type)
    return user


async def set_password(session: AsyncSession, ref: str, password: str) -> None:
    """Replace a user's password."""
    user = await find_user(session, ref)
    try:
        user.password_hash = hash_password(password)
    except ValueError as error:
        raise TenantError(str(error), "password") from None
    await audit.change(session, "user.password_set", user.id)


async def _keep_an_admin(session: AsyncSession, user: User, change: str) -> None:
    """Refuse a change that would leave no enabled user holding the Admin role."""
    others = await session.scalar(
        select(func.count())
        .select_from(UserRole)
        .join(Role, Role.id == UserRole.role_id)
        .join(User, User.id == UserRole.user_id)
        .where(Role.name == ADMIN_ROLE, User.enabled, User.id != user.id)
    )
    if not others:
        raise Conflict(f"{user.email} is the last enabled administrator and cannot be {change}")


async def _is_admin(session: AsyncSession, user: User) -> bool:
    return ADMIN_ROLE in await user_roles(session, user.id)


async def set_enabled(session: AsyncSession, ref: str, enabled: bool) -> None:
    """Disable (or enable again) a user; a disabled user cannot log in."""
    user = await find_user(session, ref)
    if not enabled and user.enabled and await _is_admin(session, user):
        await _keep_an_admin(session, user, "disabled")
    if user.enabled != enabled:
        user.enabled = enabled
        await audit.change(session, "user.enabled" if enabled else "user.disabled", user.id)


async def find_role(session: AsyncSession, name: str) -> Role:
    """A role by name, else by id."""
    role = await session.scalar(select(Role).where(Role.name == name))
    if role is None and name.isdigit():
        role = await session.get(Role, int(name))
    if role is None:
        raise NotFound(f"no role {name!r}")
    return role


async def create_role(
    session: AsyncSession,
    name: str,
    description: str = "",
    permissions: dict[str, list[str]] | None = None,
) -> Role:
    """A role with permissions {API identifier: scopes}."""
    if not name.strip() or len(name) > 100:
        raise TenantError("a role needs a name of 1-100 characters", "name")
    if await session.scalar(select(Role.id).where(Role.name == name)) is not None:
        raise Conflict(f"a role named {name!r} already exists", "name")
    role = Role(name=name, description=description)
    session.add(role)
    await session.flush()
    await audit.change(session, "role.created", name)
    for api, scopes in (permissions or {}).items():
        await set_permissions(session, name, api, scopes)
    return role


async def set_permissions(
    session: AsyncSession, role_name: str, api_ref: str, scopes: list[str]
) -> None:
    """Make a role's permissions on one API exactly `scopes`."""
    role = await find_role(session, role_name)
    api = await find_api(session, api_ref)
    defined = {scope.value for scope in api.scopes}
    unknown = sorted(set(scopes) - defined)
    if unknown:
        raise TenantError(f"API {api.name!r} has no scope {', '.join(unknown)}", "permissions")
    existing = (
        await session.scalars(
            select(RolePermission).where(
                RolePermission.role_id == role.id, RolePermission.resource_server_id == api.id
            )
        )
    ).all()
    for permission in existing:
        await session.delete(permission)
    await session.flush()  # the deletes first: a kept scope is inserted again
    for scope in sorted(set(scopes)):
        session.add(RolePermission(role_id=role.id, resource_server_id=api.id, scope=scope))
    await session.flush()
    await audit.change(
        session,
        "role.permissions_set",
        role.name,
        audience=api.identifier,
        scopes=sorted(set(scopes)),
    )


async def assign_role(session: AsyncSession, user_ref: str, role_name: str) -> None:
    """Give a user a role (once)."""
    user = await find_user(session, user_ref)
    role = await find_role(session, role_name)
    held = await session.scalar(
        select(UserRole.id).where(UserRole.user_id == user.id, UserRole.role_id == role.id)
    )
    if held is None:
        session.add(UserRole(user_id=user.id, role_id=role.id))
        await session.flush()
        await audit.change(session, "user.role_assigned", user.id, role=role.name)


async def unassign_role(session: AsyncSession, user_ref: str, role_name: str) -> None:
    """Take a role from a user."""
    user = await find_user(session, user_ref)
    role = await find_role(session, role_name)
    held = await session.scalar(
        select(UserRole).where(UserRole.user_id == user.id, UserRole.role_id == role.id)
    )
    if held is None:
        raise NotFound(f"user {user.email} does not hold role {role.name!r}")
    if role.name == ADMIN_ROLE and user.enabled:
        await _keep_an_admin(session, user, f"without the {ADMIN_ROLE} role")
    await session.delete(held)
    await audit.change(session, "user.role_removed", user.id, role=role.name)


async def update_user(
    session: AsyncSession, ref: str, *, name: str | None = None, user_type: str | None = None
) -> User:
    """Change a user's name or type."""
    user = await find_user(session, ref)
    changed = []
    if name is not None and name.strip() != user.name:
        if not name.strip() or len(name) > 200:
            raise TenantError("a user needs a name of 1-200 characters", "name")
        user.name = name.strip()
        changed.append("name")
    if user_type is not None and user_type != user.user_type:
        if user_type not in USER_TYPES:
            raise TenantError(f"user type must be one of {', '.join(USER_TYPES)}", "user_type")
        user.user_type = user_type
        changed.append("user_type")
    if changed:
        await audit.change(session, "user.updated", user.id, changed=changed)
    return user


async def delete_user(session: AsyncSession, ref: str) -> None:
    """Delete a user with their roles, sessions and grants."""
    user = await find_user(session, ref)
    if user.enabled and await _is_admin(session, user):
        await _keep_an_admin(session, user, "deleted")
    await session.delete(user)
    await audit.change(session, "user.deleted", user.id, email=user.email)


async def update_role(
    session: AsyncSession, ref: str, *, name: str | None = None, description: str | None = None
) -> Role:
    """Rename a role or change its description."""
    role = await find_role(session, ref)
    changed = []
    if name is not None and name != role.name:
        if not name.strip() or len(name) > 100:
            raise TenantError("a role needs a name of 1-100 characters", "name")
        if await session.scalar(select(Role.id).where(Role.name == name)) is not None:
            raise Conflict(f"a role named {name!r} already exists", "name")
        role.name = name
        changed.append("name")
    if description is not None and description != role.description:
        role.description = description
        changed.append("description")
    if changed:
        await audit.change(session, "role.updated", role.name, changed=changed)
    return role


async def delete_role(session: AsyncSession, ref: str) -> None:
    """Delete a role; its holders lose its permissions (the Admin role cannot go)."""
    role = await find_role(session, ref)
    if role.name == ADMIN_ROLE:
        raise Conflict(f"the {ADMIN_ROLE} role lets people into the admin console; keep it")
    await session.delete(role)
    await audit.change(session, "role.deleted", role.name)


async def role_permissions(session: AsyncSession, role_id: int) -> dict[str, list[str]]:
    """A role's scopes by API identifier."""
    rows = await session.execute(
        select(ResourceServer.identifier, RolePermission.scope)
        .join(RolePermission, RolePermission.resource_server_id == ResourceServer.id)
        .where(RolePermission.role_id == role_id)
        .order_by(ResourceServer.identifier, RolePermission.scope)
    )
    permissions: dict[str, list[str]] = {}
    for identifier, scope in rows:
        permissions.setdefault(identifier, []).append(scope)
    return permissions


async def role_members(session: AsyncSession, role_id: int) -> list[User]:
    """The users holding a role, by email."""
    rows = await session.scalars(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role_id == role_id)
        .order_by(User.email)
    )
    return list(rows.all())


async def list_roles(session: AsyncSession) -> list[Role]:
    """Every role, by name."""
    return list((await session.scalars(select(Role).order_by(Role.name))).all())


async def user_roles(session: AsyncSession, user_id: str) -> list[str]:
    """The names of a user's roles."""
    rows = await session.scalars(
        select(Role.name)
        .join(UserRole, UserRole.role_id == Role.id)
        .where(UserRole.user_id == user_id)
    )
    return sorted(rows.all())


async def user_permissions(session: AsyncSession, user_id: str) -> dict[str, frozenset[str]]:
    """The scopes a user's roles permit, by API identifier."""
    rows = await session.execute(
        select(ResourceServer.identifier, RolePermission.scope)
        .join(RolePermission, RolePermission.resource_server_id == ResourceServer.id)
        .join(UserRole, UserRole.role_id == RolePermission.role_id)
        .where(UserRole.user_id == user_id)
    )
    permissions: dict[str, set[str]] = {}
    for identifier, scope in rows:
        permissions.setdefault(identifier, set()).add(scope)
    return {k: frozenset(v) for k, v in permissions.items()}
