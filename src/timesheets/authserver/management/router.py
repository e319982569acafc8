"""Every route of the management API."""

from __future__ import annotations

from fastapi import APIRouter

from timesheets.authserver.management import (
    client_grants,
    clients,
    keys,
    logs,
    resource_servers,
    roles,
    users,
)

router = APIRouter()
for module in (resource_servers, clients, client_grants, users, roles, keys, logs):
    router.include_router(module.router)
