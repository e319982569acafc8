"""Signing in to the console and out of it, with the authorization server's login rules
(the same password check, throttle, audit events and session cookie as its login page)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from timesheets import db
from timesheets.authserver import grants
from timesheets.authserver.console.forms import Posted
from timesheets.authserver.console.guard import SIGN_IN, console_path
from timesheets.authserver.console.route import ConsoleRoute
from timesheets.authserver.console.views import NO_STORE, done, page
from timesheets.authserver.pages import SESSION_COOKIE, set_session_cookie
from timesheets.authserver.routers.interaction import GENERIC_LOGIN_ERROR, sign_in
from timesheets.authserver.runtime import runtime_of

router = APIRouter(route_class=ConsoleRoute)


@router.get(SIGN_IN)
async def sign_in_page(request: Request) -> Response:
    """The console's sign-in form."""
    target = console_path(request.query_params.get("next", ""))
    return page(request, None, "console/login.html", next=target, email="", error="")


def _form_again(
    request: Request,
    target: str,
    email: str,
    error: str,
    status: int,
    headers: dict[str, str] | None = None,
) -> Response:
    return page(
        request,
        None,
        "console/login.html",
        status=status,
        headers=headers,
        next=target,
        email=email,
        error=error,
    )


@router.post(SIGN_IN)
async def sign_in_form(request: Request, form: Posted) -> Response:
    """Check the password; signed in, go on to the page asked for (the Admin role is
    checked there, like on every console page)."""
    runtime = runtime_of(request)
    target = console_path(form.get("next"))
    email = form.get("email").strip().lower()
    result = await sign_in(runtime, request, email, form.get("password"))
    if result.retry_after:
        error = f"Too many sign-in attempts. Try again in {result.retry_after} seconds."
        wait = {"Retry-After": str(result.retry_after)}
        return _form_again(request, target, email, error, 429, wait)
    if result.user is None:
        return _form_again(request, target, email, GENERIC_LOGIN_ERROR, 401)
    answer = RedirectResponse(target, 303, headers=NO_STORE)
    set_session_cookie(runtime, answer, result.cookie)
    return answer


@router.post("/admin/logout")
async def sign_out(request: Request, _form: Posted) -> Response:
    """End the session (the authorization server's too) and return to the sign-in form."""
    runtime = runtime_of(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        async with runtime.sessions() as session, session.begin():
            await session.connection(execution_options={db.IMMEDIATE: True})
            await grants.end_session(session, cookie)
    response = done(request, SIGN_IN, "You are signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
