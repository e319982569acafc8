"""The demo tenant of the original scenario, created on the first `timesheets up`.

Writes what scripts need to `<data-dir>/bootstrap.json` (mode 0600).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import admin
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


async def _machine_client(session: AsyncSession, name: str, scopes: list[str]) -> dict[str, str]:
    """The client's id and a secret: a new client, or a fresh secret for an existing one."""
    try:
        client = await admin.find_client(session, name)
    except admin.TenantError:
        created = await admin.create_client(session, name=name, app_type="machine")
        await admin.add_grant(session, name, AUDIENCE, scopes)
        assert created.secret is not None
        return {"client_id": created.client.client_id, "client_secret": created.secret}
    secret = await admin.rotate_secret(session, name, timedelta(0))
    return {"client_id": client.client_id, "client_secret": secret}


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
    document = {
        "issuer": runtime.settings.issuer,
        "audience": AUDIENCE,
        **urls,
        "import_job": import_job,
        "reports_client": reports,
    }
    write_private_json(path, document)
    runtime.invalidate()
    return document
