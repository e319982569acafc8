"""The signing keys page: every key with its state, and rotation per algorithm."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from timesheets.authserver import admin
from timesheets.authserver.console.changes import change
from timesheets.authserver.console.forms import Posted
from timesheets.authserver.console.guard import CurrentAdmin
from timesheets.authserver.console.route import ConsoleRoute
from timesheets.authserver.console.views import Problem, done, page, refused
from timesheets.authserver.runtime import runtime_of
from timesheets.authserver.store import key_record, load_keys

router = APIRouter(route_class=ConsoleRoute)


async def _keys_page(
    request: Request, who: CurrentAdmin, problem: Problem | None = None
) -> Response:
    runtime = runtime_of(request)
    now = runtime.now()
    async with runtime.sessions() as session:
        rows = await load_keys(session)
    keys = [(row, key_record(row).state(now)) for row in reversed(rows)]
    algs = sorted({row.alg for row in rows})
    return page(request, who, "console/keys.html", problem=problem, keys=keys, algs=algs)


@router.get("/admin/keys")
async def key_list(request: Request, who: CurrentAdmin) -> Response:
    """Every signing key, newest first, with its state."""
    return await _keys_page(request, who)


@router.post("/admin/keys/rotate")
async def rotate(request: Request, who: CurrentAdmin, form: Posted) -> Response:
    """Sign with the published next key; the old one stays published until its tokens expire."""
    runtime = runtime_of(request)
    alg = form.get("alg") or ""
    try:
        publish_for = await runtime.longest_token_lifetime()
        async with change(runtime, who) as session:
            promoted, _demoted, fresh = await runtime.rotate_keys(
                session, alg, publish_for, force=False
            )
    except admin.TenantError as error:
        return await _keys_page(request, who, refused(error, "rotate", form, ()))
    text = f"{alg} rotated: signing with {promoted}; {fresh} is published as the next key."
    return done(request, "/admin/keys", text)
