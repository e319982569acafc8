"""The demo tenant of the original scenario, created on the first `timesheets up`.

Writes what scripts need to `<data-dir>/bootstrap.json` (mode 0600).
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import admin
from timesheets.authserver.runtime import Runtime

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


def key_file(data_dir: Path) -> Path:
    """Where `timesheets up` keeps its generated key-encryption key."""
    return data_dir / "key-encryption.key"


def ensure_key_file(data_dir: Path) -> str:
    """The data directory's key-encryption key, generated (mode 0600) on first use."""
    path = key_file(data_dir)
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def write_private_json(path: Path, document: dict[str, Any]) -> None:
    """Write JSON readable only by the owner, replacing the file atomically."""
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


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
