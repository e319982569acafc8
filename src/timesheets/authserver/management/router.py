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

#: The routers of the management API, one a resource.
ROUTERS = tuple(
    module.router for module in (resource_servers, clients, client_grants, users, roles, keys, logs)
)
router = APIRouter()
for part in ROUTERS:
    router.include_router(part)
