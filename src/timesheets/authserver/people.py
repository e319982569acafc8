"""The rules for users and roles: create, disable, set passwords, assign roles.

Like `admin.py`, each function works in the caller's session and transaction.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import audit
from timesheets.authserver.admin import TenantError, find_api, now_utc
from timesheets.authserver.models import ResourceServer, Role, RolePermission, User, UserRole
from timesheets.authserver.passwords import hash_password

USER_TYPES = ("Employee", "Contractor")
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
        raise TenantError(f"no user {ref!r}")
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
        raise TenantError(f"{email!r} is not an email address")
    if user_type not in USER_TYPES:
        raise TenantError(f"user type must be one of {', '.join(USER_TYPES)}")
    if not name.strip() or len(name) > 200:
        raise TenantError("a user needs a name of 1-200 characters")
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise TenantError(f"a user with email {email} already exists")
    try:
        password_hash = hash_password(password)
    except ValueError as error:
        raise TenantError(str(error)) from None
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
        raise TenantError(str(error)) from None
    await audit.change(session, "user.password_set", user.id)


async def set_enabled(session: AsyncSession, ref: str, enabled: bool) -> None:
    """Disable (or enable again) a user; a disabled user cannot log in."""
    user = await find_user(session, ref)
    if user.enabled != enabled:
        user.enabled = enabled
        await audit.change(session, "user.enabled" if enabled else "user.disabled", user.id)


async def find_role(session: AsyncSession, name: str) -> Role:
    """A role by name."""
    role = await session.scalar(select(Role).where(Role.name == name))
    if role is None:
        raise TenantError(f"no role {name!r}")
    return role


async def create_role(
    session: AsyncSession,
    name: str,
    description: str = "",
    permissions: dict[str, list[str]] | None = None,
) -> Role:
    """A role with permissions {API identifier: scopes}."""
    if not name.strip() or len(name) > 100:
        raise TenantError("a role needs a name of 1-100 characters")
    if await session.scalar(select(Role.id).where(Role.name == name)) is not None:
        raise TenantError(f"a role named {name!r} already exists")
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
        raise TenantError(f"API {api.name!r} has no scope {', '.join(unknown)}")
    existing = (
        await session.scalars(
            select(RolePermission).where(
                RolePermission.role_id == role.id, RolePermission.resource_server_id == api.id
            )
        )
    ).all()
    for permission in existing:
        await session.delete(permission)
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
