"""The write hot paths, as plain Starlette endpoints: `POST /timesheets` and the upload.

They take the Request themselves (no FastAPI body or dependency machinery, which costs
a large share of throughput here), authenticate with the shared bearer verifier and
validate with precompiled pydantic models. Their OpenAPI entries are written in
`timesheets.api.openapi`.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from timesheets.api import entries, uploads
from timesheets.api.context import ApiContext
from timesheets.api.errors import ApiError
from timesheets.api.routers.body import json_body
from timesheets.bearer.claims import Principal
from timesheets.bearer.dependencies import authenticate

CREATE_SCOPE = "create:timesheets"


def json_content(body: Any) -> bytes:
    """A response body as JSON bytes."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        # What an upload's answer echoes from a rejected item and orjson refuses (an
        # integer past 64 bits, a lone surrogate) is still written, as `json` writes it.
        return json.dumps(body).encode()


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json_content(body), status, headers, media_type="application/json")


async def create_timesheet(request: Request) -> Response:
    """`POST /timesheets` (and the seed's legacy `POST /timesheet`): create one entry.

    `timesheets.api.create_lane` serves most of these calls with the same steps."""
    context: ApiContext = request.app.state.context
    principal = await authenticate(
        request, context.verifier, CREATE_SCOPE, form_limit=context.settings.max_body_bytes
    )
    key = idempotency_key(request.headers.get("idempotency-key"))
    data = await json_body(request, context.settings.max_body_bytes)
    status, body, headers = await created(context, principal, data, key)
    return _json(status, body, headers)


def idempotency_key(value: str | None) -> str | None:
    """An `Idempotency-Key` header's value, refused (400) outside 1 to 200 characters."""
    if value is not None and not 1 <= len(value) <= 200:
        raise ApiError(400, "Idempotency-Key must be 1 to 200 characters")
    return value


async def created(
    context: ApiContext, principal: Principal, data: Any, key: str | None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Store an entry: the answer's status, body and headers (`Location` when stored)."""
    reply = await entries.create(context, principal, data, key)
    return reply.status, reply.body, _location(reply.body)


def _location(body: dict[str, Any]) -> dict[str, str]:
    """`Location` of the entry an answer holds, if it holds one."""
    return {"Location": f"/timesheets/{body['id']}"} if "id" in body else {}


async def upload_timesheets(request: Request) -> Response:
    """`POST /timesheets/upload`: one entry, a JSON array, or JSON Lines."""
    context: ApiContext = request.app.state.context
    principal = await authenticate(
        request, context.verifier, "batch:upload", form_limit=context.settings.max_body_bytes
    )
    key = idempotency_key(request.headers.get("idempotency-key"))
    data = await json_body(request, context.settings.max_body_bytes, lines=True)
    reply = await uploads.upload(context, principal, data, key)
    return _json(reply.status, reply.body, _location(reply.body))
