"""The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0).

With a valid id_token_hint of the signed-in person the session ends at once; otherwise
the person is asked first (§2). The browser returns only to a registered post-logout
redirect URI of the client, with `state` (§3); else it sees a signed-out page.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from timesheets import db
from timesheets.authserver import grants
from timesheets.authserver.oauth import rp_logout
from timesheets.authserver.oauth.rp_logout import LogoutError, LogoutRequest
from timesheets.authserver.oauth.tenant import ClientView
from timesheets.authserver.pages import (
    SESSION_COOKIE,
    form_allowed,
    form_refused,
    message,
    render,
)
from timesheets.authserver.routers.interaction import _form, session_user
from timesheets.authserver.runtime import Runtime, runtime_of

router = APIRouter(include_in_schema=False)
log = logging.getLogger("timesheets.authserver.logout")


async def _client(
    runtime: Runtime, http: Request, request: LogoutRequest
) -> tuple[ClientView | None, bool]:
    """The requesting client, and whether the person must confirm the logout."""
    hint = None
    if request.id_token_hint is not None:
        jwks = orjson.loads((await runtime.keyring()).jwks)
        hint = rp_logout.read_hint(request.id_token_hint, jwks, runtime.settings.issuer)
    client_id = rp_logout.client_id_of(request, hint)
    client = await runtime.client(client_id) if client_id is not None else None
    if client_id is not None and client is None:
        raise LogoutError(f"there is no client {client_id!r}")
    signed_in = await session_user(runtime, http)
    return client, rp_logout.must_confirm(hint, signed_in[0].id if signed_in else None)


async def _sign_out(
    runtime: Runtime, http: Request, request: LogoutRequest, client: ClientView | None
) -> Response:
    cookie = http.cookies.get(SESSION_COOKIE)
    if cookie:
        async with runtime.sessions() as session, session.begin():
            # The write lock first: end_session reads the session before it deletes it,
            # and on SQLite that upgrade fails at once if another worker wrote meanwhile.
            await session.connection(execution_options={db.IMMEDIATE: True})
            await grants.end_session(session, cookie)
    target = rp_logout.return_to(request, client)
    if target is not None:
        response: Response = RedirectResponse(
            target, status_code=303, headers={"Cache-Control": "no-store"}
        )
    else:
        response = message(runtime, http, 200, "Signed out", "You are signed out of Timesheets.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _refused(runtime: Runtime, http: Request, error: LogoutError) -> Response:
    # §4: a request that fails validation is not acted on; an error page says why.
    log.info("logout request refused", extra={"reason": str(error)})
    return message(runtime, http, 400, "Logout refused", str(error))


@router.get("/logout")
@router.get("/v2/logout")
@router.post("/logout")
@router.post("/v2/logout")
async def logout(http: Request) -> Response:
    """RP-Initiated Logout, by GET or POST (§2)."""
    runtime = runtime_of(http)
    params = dict(parse_qsl(http.url.query)) if http.method == "GET" else await _form(http)
    request = LogoutRequest.of(params)
    try:
        client, confirm = await _client(runtime, http, request)
    except LogoutError as error:
        return _refused(runtime, http, error)
    if not confirm:
        return await _sign_out(runtime, http, request, client)
    # Only the request's validated parameters go into the form; the hint stays out.
    fields = {k: v for k, v in asdict(request).items() if v and k != "id_token_hint"}
    if client is not None:
        fields["client_id"] = client.client_id
    return render(
        runtime, http, "logout.html", client_name=client.name if client else "", fields=fields
    )


@router.post("/logout/confirm")
async def confirm_logout(http: Request) -> Response:
    """The person's answer to "Sign out of Timesheets?"."""
    runtime = runtime_of(http)
    form = await _form(http)
    if not form_allowed(runtime, http, form):
        return form_refused(runtime, http)
    request = LogoutRequest.of({k: v for k, v in form.items() if k != "id_token_hint"})
    try:
        client, _confirm = await _client(runtime, http, request)
    except LogoutError as error:
        return _refused(runtime, http, error)
    if form.get("decision") != "sign_out":
        return message(runtime, http, 200, "Still signed in", "You are still signed in.")
    return await _sign_out(runtime, http, request, client)
