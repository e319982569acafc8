"""The admin console at `/admin`: server-rendered pages for the tenant's administrators.

Every page needs a signed-in user holding the Admin role (`guard`); every form carries a
CSRF token (`forms`); every change goes through the tenant's rules, the same ones the
`timesheets admin` commands and the management API use, in one transaction attributed
to the administrator in the audit log (`changes`).
"""

from __future__ import annotations

from fastapi import APIRouter

from timesheets.authserver.console import (
    access,
    apis,
    applications,
    audit_log,
    roles,
    sign_in,
    signing_keys,
    users,
)

#: The routers of the console's pages.
ROUTERS = tuple(
    module.router
    for module in (sign_in, apis, applications, access, users, roles, signing_keys, audit_log)
)
router = APIRouter(include_in_schema=False)
for _part in ROUTERS:
    router.include_router(_part)
