"""Who may use the console: a signed-in user holding the Admin role.

`current_admin` is the one place the console checks a session. It is where a second
factor would be required (a session that has not passed one is sent to a second-factor
page instead of the console), and `Admin.auth_time` is what a check for a recent sign-in
before sensitive actions would compare with (see docs/console.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse

from timesheets.authserver import people
from timesheets.authserver.console.route import Refusal
from timesheets.authserver.pages import render
from timesheets.authserver.routers.interaction import session_user
from timesheets.authserver.runtime import runtime_of

HOME = "/admin"
SIGN_IN = "/admin/login"


@dataclass(frozen=True)
class Admin:
    """The administrator making a request, and when they signed in."""

    user_id: str
    email: str
    name: str
    auth_time: datetime

    @property
    def actor(self) -> str:
        """How the audit log names them."""
        return f"user:{self.user_id}"


def console_path(value: str) -> str:
    """`value` if it is a path of the console (where to go after signing in), else home."""
    parts = urlsplit(value)
    inside = parts.path == HOME or parts.path.startswith(HOME + "/")
    if parts.scheme or parts.netloc or "\\" in value or not inside or value.startswith("//"):
        return HOME
    return value


def _to_sign_in(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = console_path(here) if request.method == "GET" else HOME
    return RedirectResponse(
        f"{SIGN_IN}?{urlencode({'next': target})}", 303, headers={"Cache-Control": "no-store"}
    )


async def current_admin(request: Request) -> Admin:
    """The signed-in administrator; anyone else is sent to sign in or refused with a 403."""
    runtime = runtime_of(request)
    signed_in = await session_user(runtime, request)
    if signed_in is None:
        raise Refusal(_to_sign_in(request))
    user, auth_time = signed_in
    async with runtime.sessions() as session:
        roles = await people.user_roles(session, user.id)
    if people.ADMIN_ROLE not in roles:
        page = render(runtime, request, "console/forbidden.html", 403, email=user.email)
        raise Refusal(page)
    # A second factor would be checked here, once sessions record one.
    return Admin(user.id, user.email, user.name, auth_time)


CurrentAdmin = Annotated[Admin, Depends(current_admin)]
