"""`/api/v2/keys/signing`: the signing keys' public parts and lifecycle, and rotation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver.management import views
from timesheets.authserver.management.access import Caller, require
from timesheets.authserver.management.schemas import KeyRotation
from timesheets.authserver.management.transaction import change, read
from timesheets.authserver.runtime import runtime_of
from timesheets.authserver.store import load_keys

router = APIRouter(prefix="/api/v2/keys/signing", tags=["management: signing keys"])


@router.get("")
async def list_signing_keys(
    request: Request, _caller: Annotated[Caller, Depends(require("read:signing_keys"))]
) -> list[dict[str, Any]]:
    """Every signing key with its state (next, current, previous, retired)."""
    now = runtime_of(request).now()

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return [views.signing_key(row, now) for row in await load_keys(session)]

    return await read(request, work)


@router.post("/rotate")
async def rotate_signing_keys(
    request: Request,
    body: KeyRotation,
    caller: Annotated[Caller, Depends(require("create:signing_keys"))],
) -> dict[str, Any]:
    """Sign with the published next key; the old one stays published until its tokens
    expire, and a new next key is published. 409 when the algorithm has no key, or its
    next key was published too recently (unless `force`)."""
    runtime = runtime_of(request)
    publish_for = await runtime.longest_token_lifetime()

    async def work(session: AsyncSession) -> dict[str, Any]:
        promoted, demoted, fresh = await runtime.rotate_keys(
            session, body.alg, publish_for, force=body.force
        )
        return {"current": promoted, "previous": demoted, "next": fresh}

    return await change(request, caller, work)
