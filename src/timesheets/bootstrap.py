"""The demo tenant of the original scenario, created on the first `timesheets up`.

Writes what scripts need to `<data-dir>/bootstrap.json` (mode 0600).
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import admin, people
from timesheets.authserver.runtime import Runtime
from timesheets.datadir import write_private_json

AUDIENCE = "https://api.timesheets.local"
API_NAME = "Timesheets API"
SCOPES = {
    "read:timesheets": "Read timesheets",
    "create:timesheets": "Create timesheets",
    "delete:timesheets": "Delete timesheets",
    "approve:timesheets": "Approve timesheets",
    "batch:upload": "Upload timesheets in batch",
}
IMPORT_JOB = "Timesheets Import Job"
IMPORT_JOB_SCOPES = ["create:timesheets", "batch:upload"]
REPORTS = "Payroll Export"
REPORTS_SCOPES = ["read:timesheets"]
WEB_CLIENT = "Timesheets SPA"
PEOPLE_SCOPES = ["read:timesheets", "create:timesheets", "delete:timesheets"]
ROLES = {
    "Employee": PEOPLE_SCOPES,
    "Manager": [*PEOPLE_SCOPES, "approve:timesheets"],
}
MANAGEMENT_CLIENT = "Timesheets Management Client"
DEMO_USERS = [
    ("employee@abc.example", "Erin Employee", "Employee", ["Employee"]),
    ("contractor@abc.example", "Casey Contractor", "Contractor", ["Employee"]),
    ("manager@abc.example", "Morgan Manager", "Employee", ["Manager"]),
    ("admin@abc.example", "Ada Admin", "Employee", [people.ADMIN_ROLE]),
]


async def _machine_client(
    session: AsyncSession, name: str, scopes: list[str], audience: str = AUDIENCE
) -> dict[str, str]:
    """The client's id and a secret: a new client, or a fresh secret for an existing one."""
    try:
        client = await admin.find_client(session, name)
    except admin.TenantError:
        created = await admin.create_client(session, name=name, app_type="machine")
        await admin.add_grant(session, name, audience, scopes)
        assert created.secret is not None
        return {"client_id": created.client.client_id, "client_secret": created.secret}
    secret = await admin.rotate_secret(session, name, timedelta(0))
    return {"client_id": client.client_id, "client_secret": secret}


async def _people(session: AsyncSession, management: str) -> list[dict[str, Any]]:
    """Roles, and the demo people with fresh passwords."""
    permissions_of: dict[str, dict[str, list[str]]] = {
        name: {AUDIENCE: scopes} for name, scopes in ROLES.items()
    }
    permissions_of[people.ADMIN_ROLE] = {management: sorted(admin.MANAGEMENT_SCOPES)}
    for role, permissions in permissions_of.items():
        try:
            await people.find_role(session, role)
        except admin.TenantError:
            await people.create_role(session, role, permissions=permissions)
    users = []
    for email, name, user_type, roles in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        try:
            await people.find_user(session, email)
            await people.set_password(session, email, password)
        except admin.TenantError:
            await people.create_user(
                session, email=email, name=name, password=password, user_type=user_type
            )
        for role in roles:
            await people.assign_role(session, email, role)
        users.append({"email": email, "password": password, "roles": roles, "user_type": user_type})
    return users


async def _web_client(session: AsyncSession, web_url: str) -> dict[str, str]:
    redirect_uri = f"{web_url}/callback"
    try:
        client = await admin.find_client(session, WEB_CLIENT)
    except admin.TenantError:
        created = await admin.create_client(
            session,
            name=WEB_CLIENT,
            app_type="spa",
            redirect_uris=(redirect_uri,),
            web_origins=(web_url,),
            post_logout_redirect_uris=(web_url,),
        )
        await admin.add_grant(session, WEB_CLIENT, AUDIENCE, ROLES["Manager"])
        client = created.client
    return {"web_client_id": client.client_id, "web_redirect_uri": redirect_uri}


async def bootstrap(runtime: Runtime, data_dir: Path, urls: dict[str, str]) -> dict[str, Any]:
    """Create the scenario's tenant if needed and (re)write bootstrap.json."""
    path = data_dir / "bootstrap.json"
    if path.exists():
        existing: dict[str, Any] = json.loads(path.read_text())
        return existing
    async with runtime.sessions() as session, session.begin():
        try:
            await admin.find_api(session, AUDIENCE)
        except admin.TenantError:
            await admin.create_api(
                session, runtime.sealer, name=API_NAME, identifier=AUDIENCE, scopes=SCOPES
            )
        import_job = await _machine_client(session, IMPORT_JOB, IMPORT_JOB_SCOPES)
        reports = await _machine_client(session, REPORTS, REPORTS_SCOPES)
        management_api = await admin.ensure_management_api(session, runtime.settings.issuer)
        management = await _machine_client(
            session,
            MANAGEMENT_CLIENT,
            sorted(admin.MANAGEMENT_SCOPES),
            management_api.identifier,
        )
        users = await _people(session, management_api.identifier)
        web = await _web_client(session, urls["web_url"]) if "web_url" in urls else {}
    document = {
        "issuer": runtime.settings.issuer,
        "audience": AUDIENCE,
        **urls,
        "import_job": import_job,
        "reports_client": reports,
        "management": management | {"audience": management_api.identifier},
        **web,
        "users": users,
    }
    write_private_json(path, document)
    runtime.invalidate()
    return document
