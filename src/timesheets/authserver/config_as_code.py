"""Config as code: the tenant as a TOML document, applied idempotently or exported.

Format (see docs/config-as-code.md):

    [[apis]]
    name = "Timesheets API"
    identifier = "https://api.timesheets.local"
    signing_alg = "RS256"          # immutable once created
    token_lifetime = 3600
    permissions_claim = false
    scopes = { "read:timesheets" = "Read timesheets" }

    [[clients]]
    name = "Timesheets Import Job"
    type = "machine"
    secret_env = "IMPORT_JOB_SECRET"   # secrets only from the environment, never the file
    grants = [{ api = "https://api.timesheets.local", scopes = ["batch:upload"] }]

    [[roles]]
    name = "Approver"
    description = "Approves timesheets"
    permissions = { "https://api.timesheets.local" = ["approve:timesheets"] }

    [[users]]
    email = "erin@example.com"
    name = "Erin"
    user_type = "Employee"
    enabled = true
    roles = ["Approver"]
    password_env = "ERIN_PASSWORD"     # read only when the user is created

APIs are matched by identifier, clients and roles by name, users by email. What the
file lists is made to match it (scopes, grants, permissions and roles included); what it
does not list is left alone. The rules for roles and users are those of `people.py`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import admin, people
from timesheets.authserver.oauth.client_auth import secret_digest
from timesheets.authserver.sealing import Sealer

API_KEYS = {"name", "identifier", "signing_alg", "token_lifetime", "permissions_claim", "scopes"}
CLIENT_KEYS = {
    "name",
    "type",
    "client_id",
    "token_endpoint_auth_method",
    "grant_types",
    "redirect_uris",
    "web_origins",
    "post_logout_redirect_uris",
    "secret_env",
    "grants",
    "first_party",
}
ROLE_KEYS = {"name", "description", "permissions"}
USER_KEYS = {"email", "name", "user_type", "enabled", "roles", "password_env"}
ROLE_TYPES: dict[str, type | tuple[type, ...]] = {"name": str, "description": str}
USER_TYPES: dict[str, type | tuple[type, ...]] = {
    "email": str,
    "name": str,
    "user_type": str,
    "enabled": bool,
    "password_env": str,
}
API_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "identifier": str,
    "signing_alg": str,
    "token_lifetime": int,
    "permissions_claim": bool,
}
SECRET_OVERLAP = timedelta(days=1)


def _check_types(
    where: str, spec: Mapping[str, Any], types: dict[str, type | tuple[type, ...]]
) -> None:
    for key, kind in types.items():
        value = spec.get(key)
        if value is not None and (
            not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool)
        ):
            raise admin.TenantError(f"{where}: {key} has the wrong type")


@dataclass
class ApplyReport:
    """What an apply changed, and the secrets it generated (shown once)."""

    changes: list[str] = field(default_factory=list)
    generated_secrets: dict[str, str] = field(default_factory=dict)


def _table(item: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise admin.TenantError(f"{where} must be a table")
    unknown = set(item) - allowed
    if unknown:
        raise admin.TenantError(f"{where}: unknown key {', '.join(sorted(unknown))}")
    return item


def _list(document: Mapping[str, Any], key: str) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise admin.TenantError(f"{key} must be an array of tables")
    return value


async def _apply_api(
    session: AsyncSession, sealer: Sealer, spec: Mapping[str, Any], report: ApplyReport
) -> None:
    identifier = spec.get("identifier")
    if not isinstance(identifier, str):
        raise admin.TenantError("every API needs an identifier")
    scopes = spec.get("scopes", {})
    if not isinstance(scopes, Mapping) or not all(isinstance(v, str) for v in scopes.values()):
        raise admin.TenantError(f"API {identifier}: scopes must map names to descriptions")
    _check_types(f"API {identifier}", spec, API_TYPES)
    try:
        api = await admin.find_api(session, identifier)
    except admin.TenantError:
        created = await admin.create_api(
            session,
            sealer,
            name=str(spec.get("name", identifier)),
            identifier=identifier,
            signing_alg=str(spec.get("signing_alg", "RS256")),
            token_lifetime=int(spec.get("token_lifetime", admin.DEFAULT_TOKEN_LIFETIME)),
            scopes=dict(scopes),
            permissions_claim=bool(spec.get("permissions_claim", False)),
        )
        report.changes.append(f"created API {identifier}")
        if created.hs256_secret:
            report.generated_secrets[identifier] = created.hs256_secret
        return
    if "signing_alg" in spec and spec["signing_alg"] != api.signing_alg:
        raise admin.TenantError(f"API {identifier}: the signing algorithm cannot change")
    before = (api.name, api.token_lifetime, api.permissions_claim)
    await admin.update_api(
        session,
        identifier,
        name=spec.get("name"),
        token_lifetime=spec.get("token_lifetime"),
        permissions_claim=spec.get("permissions_claim"),
    )
    if (api.name, api.token_lifetime, api.permissions_claim) != before:
        report.changes.append(f"updated the settings of API {identifier}")
    existing = {scope.value: scope for scope in api.scopes}
    for value, description in scopes.items():
        if value not in existing:
            await admin.add_scope(session, identifier, value, description)
            report.changes.append(f"added scope {value} to {identifier}")
        elif existing[value].description != description:
            existing[value].description = description
            report.changes.append(f"updated the description of scope {value} of {identifier}")
    for value in sorted(set(existing) - set(scopes)):
        await admin.remove_scope(session, identifier, value)
        report.changes.append(f"removed scope {value} from {identifier}")


def _from_env(owner: str, spec: Mapping[str, Any], key: str) -> str | None:
    """The value of the environment variable `spec[key]` names, if it names one."""
    if key not in spec:
        return None
    value = os.environ.get(str(spec[key]))
    if not value:
        raise admin.TenantError(f"{owner}: environment variable {spec[key]} is unset")
    return value


def _optional_tuple(spec: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    return tuple(spec[key]) if key in spec else None


async def _apply_client(
    session: AsyncSession, spec: Mapping[str, Any], report: ApplyReport
) -> None:
    name = spec.get("name")
    if not isinstance(name, str):
        raise admin.TenantError("every client needs a name")
    _check_types(f"client {name}", spec, {"first_party": bool})
    secret = _from_env(f"client {name}", spec, "secret_env")
    try:
        client = await admin.find_client(session, name)
    except admin.TenantError:
        created = await admin.create_client(
            session,
            name=name,
            app_type=str(spec.get("type", "machine")),
            auth_method=spec.get("token_endpoint_auth_method"),
            grant_types=_optional_tuple(spec, "grant_types"),
            redirect_uris=tuple(spec.get("redirect_uris", ())),
            web_origins=tuple(spec.get("web_origins", ())),
            post_logout_redirect_uris=tuple(spec.get("post_logout_redirect_uris", ())),
            client_id=spec.get("client_id"),
            secret=secret,
            first_party=spec.get("first_party", True),
        )
        client = created.client
        report.changes.append(f"created client {name}")
        if created.secret and secret is None:
            report.generated_secrets[name] = created.secret
    else:
        if "type" in spec and spec["type"] != client.app_type:
            raise admin.TenantError(f"client {name}: the type cannot change")
        changed = await admin.update_client(
            session,
            name,
            auth_method=spec.get("token_endpoint_auth_method"),
            grant_types=_optional_tuple(spec, "grant_types"),
            redirect_uris=_optional_tuple(spec, "redirect_uris"),
            web_origins=_optional_tuple(spec, "web_origins"),
            first_party=spec.get("first_party"),
            post_logout_redirect_uris=_optional_tuple(spec, "post_logout_redirect_uris"),
        )
        report.changes += [f"updated {key} of client {name}" for key in changed]
        if secret is not None and secret_digest(secret) not in {s.digest for s in client.secrets}:
            # The previous secrets keep working for a day, then stop.
            await admin.rotate_secret(session, name, SECRET_OVERLAP, secret)
            report.changes.append(f"rotated client {name} to the secret from {spec['secret_env']}")
    await _apply_grants(session, name, client.client_id, spec, report)


async def _apply_grants(
    session: AsyncSession,
    name: str,
    client_id: str,
    spec: Mapping[str, Any],
    report: ApplyReport,
) -> None:
    wanted = spec.get("grants", [])
    if not isinstance(wanted, list):
        raise admin.TenantError(f"client {name}: grants must be an array")
    current = {api.identifier: grant for _c, api, grant in await admin.list_grants(session, name)}
    seen = set()
    for item in wanted:
        grant = _table(item, f"client {name} grant", {"api", "scopes"})
        api = await admin.find_api(session, str(grant.get("api")))
        seen.add(api.identifier)
        scopes = sorted(set(grant.get("scopes", [])))
        if api.identifier not in current or current[api.identifier].scopes != scopes:
            await admin.add_grant(session, client_id, api.identifier, scopes)
            granted = " ".join(scopes) or "no scopes"
            report.changes.append(f"granted {name} {granted} on {api.identifier}")
    for identifier in sorted(set(current) - seen):
        await admin.remove_grant(session, client_id, identifier)
        report.changes.append(f"removed the grant of {name} on {identifier}")


def _names(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise admin.TenantError(f"{where} must be an array of strings")
    return value


def _named(
    spec: Mapping[str, Any], kind: str, key: str, types: dict[str, type | tuple[type, ...]]
) -> str:
    """The entry's name (`key` with its article: "a name"), its values' types checked."""
    value = spec.get(key.split()[-1])
    if not isinstance(value, str):
        raise admin.TenantError(f"every {kind} needs {key}")
    _check_types(f"{kind} {value}", spec, types)
    return value


async def _apply_role(session: AsyncSession, spec: Mapping[str, Any], report: ApplyReport) -> None:
    name = _named(spec, "role", "a name", ROLE_TYPES)
    wanted = spec.get("permissions", {})
    if not isinstance(wanted, Mapping):
        raise admin.TenantError(f"role {name}: permissions must map API identifiers to scopes")
    wanted = {api: _names(scopes, f"role {name}: permissions") for api, scopes in wanted.items()}
    try:
        role = await people.find_role(session, name)
    except admin.NotFound:
        role = await people.create_role(session, name, str(spec.get("description", "")))
        report.changes.append(f"created role {name}")
        current: dict[str, list[str]] = {}
    else:
        if "description" in spec and spec["description"] != role.description:
            await people.update_role(session, name, description=spec["description"])
            report.changes.append(f"updated the description of role {name}")
        current = await _role_permissions(session, role.id)
    for identifier, scopes in wanted.items():
        if current.get(identifier) != sorted(set(scopes)):
            await people.set_permissions(session, name, identifier, scopes)
            granted = " ".join(sorted(set(scopes))) or "no scopes"
            report.changes.append(f"gave role {name} {granted} on {identifier}")
    for identifier in sorted(set(current) - set(wanted)):
        await people.set_permissions(session, name, identifier, [])
        report.changes.append(f"removed the permissions of role {name} on {identifier}")


async def _role_permissions(session: AsyncSession, role_id: int) -> dict[str, list[str]]:
    """A role's permissions on the APIs a document describes (the built-in one is not)."""
    system = {api.identifier for api in await admin.list_apis(session) if api.is_system}
    every = await people.role_permissions(session, role_id)
    return {api: scopes for api, scopes in every.items() if api not in system}


def _password(email: str, spec: Mapping[str, Any]) -> str:
    password = _from_env(f"user {email}", spec, "password_env")
    if password is None:
        raise admin.TenantError(f"user {email}: password_env is needed to create the user")
    return password


async def _apply_user(session: AsyncSession, spec: Mapping[str, Any], report: ApplyReport) -> None:
    email = _named(spec, "user", "an email", USER_TYPES)
    roles = _names(spec["roles"], f"user {email}: roles") if "roles" in spec else None
    try:
        user = await people.find_user(session, email)
    except admin.NotFound:
        user = await people.create_user(
            session,
            email=email,
            name=str(spec.get("name", "")),
            password=_password(email, spec),
            user_type=str(spec.get("user_type", "Employee")),
        )
        report.changes.append(f"created user {user.email}")
        held: list[str] = []
    else:
        before = (user.name, user.user_type)
        await people.update_user(
            session, user.id, name=spec.get("name"), user_type=spec.get("user_type")
        )
        if (user.name, user.user_type) != before:
            report.changes.append(f"updated user {user.email}")
        held = await people.user_roles(session, user.id)
    for role in sorted(set(roles or ()) - set(held)):
        await people.assign_role(session, user.id, role)
        report.changes.append(f"gave user {user.email} role {role}")
    if "enabled" in spec and spec["enabled"] != user.enabled:
        await people.set_enabled(session, user.id, spec["enabled"])
        report.changes.append(f"{'enabled' if user.enabled else 'disabled'} user {user.email}")
    for role in sorted(set(held) - set(roles if roles is not None else held)):
        await people.unassign_role(session, user.id, role)
        report.changes.append(f"took role {role} from user {user.email}")


async def apply(session: AsyncSession, sealer: Sealer, document: Mapping[str, Any]) -> ApplyReport:
    """Make the tenant match the document, in the caller's transaction."""
    _table(document, "the document", {"apis", "clients", "roles", "users"})
    report = ApplyReport()
    for item in _list(document, "apis"):
        await _apply_api(session, sealer, _table(item, "an API", API_KEYS), report)
        await session.flush()
    for item in _list(document, "clients"):
        await _apply_client(session, _table(item, "a client", CLIENT_KEYS), report)
        await session.flush()
    for item in _list(document, "roles"):
        await _apply_role(session, _table(item, "a role", ROLE_KEYS), report)
        await session.flush()
    for item in _list(document, "users"):
        await _apply_user(session, _table(item, "a user", USER_KEYS), report)
        await session.flush()
    return report


async def export(session: AsyncSession) -> dict[str, Any]:
    """The tenant as a document `apply` accepts, without any secret.

    The built-in management API, grants and permissions on it are left out: they belong
    to this server (its audience is made from the issuer) and each server makes its own.
    Users come without a password (nor password_env): add one to create them elsewhere.
    """
    apis = [
        {
            "name": api.name,
            "identifier": api.identifier,
            "signing_alg": api.signing_alg,
            "token_lifetime": api.token_lifetime,
            "permissions_claim": api.permissions_claim,
            "scopes": {scope.value: scope.description for scope in api.scopes},
        }
        for api in await admin.list_apis(session)
        if not api.is_system
    ]
    grants = await admin.list_grants(session)
    clients = [
        {
            "name": client.name,
            "type": client.app_type,
            "client_id": client.client_id,
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "grant_types": client.grant_types,
            "redirect_uris": client.redirect_uris,
            "web_origins": client.web_origins,
            "post_logout_redirect_uris": client.post_logout_redirect_uris,
            "first_party": client.first_party,
            "grants": [
                {"api": api.identifier, "scopes": grant.scopes}
                for owner, api, grant in grants
                if owner.client_id == client.client_id and not api.is_system
            ],
        }
        for client in await admin.list_clients(session)
    ]
    roles = [
        {
            "name": role.name,
            "description": role.description,
            "permissions": await _role_permissions(session, role.id),
        }
        for role in await people.list_roles(session)
    ]
    users = [
        {
            "email": user.email,
            "name": user.name,
            "user_type": user.user_type,
            "enabled": user.enabled,
            "roles": await people.user_roles(session, user.id),
        }
        for user in await people.list_users(session)
    ]
    return {"apis": apis, "clients": clients, "roles": roles, "users": users}
