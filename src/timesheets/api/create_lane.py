"""`POST /timesheets` in one ASGI layer, for the API's busiest call.

Every request through the full stack passes the request-context layer (its id, its
metrics), the fast lane's dispatch, CORS, the exception-handler wrapper, and a Starlette
Request and Response, each reading the headers again. For a create, whose own work is
the bearer check, the body and the validation, those layers cost about as much as the
endpoint: in process through uvicorn's protocol, with the write stubbed, a create took
78-85 µs a request through the full stack and 63-67 µs through this layer.

This layer serves a `POST /timesheets` (or the seed's `POST /timesheet`) that is sent
as `application/json` and carries no `Origin` header, reading each header it needs once.
The steps are those of `routers.writes.create_timesheet`, shared with it: the bearer
check, the `Idempotency-Key` rule, the body within its limit, the create. Its errors go
to the app's own exception handlers, and it sets the request id and the metrics as
`RequestContext` does. With CORS configured, its answers gain `Vary: Origin` as the CORS
layer gives every answer to a request without `Origin`. Every other request goes to the
full stack unchanged: another media type (the bearer check looks for a token in a form
body; the endpoint answers 415) and a browser's cross-origin call included.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from timesheets.api.context import ApiContext
from timesheets.api.routers.body import JSON_TYPES, decoded, media_type_of, receive_limited
from timesheets.api.routers.writes import CREATE_SCOPE, created, idempotency_key, json_content
from timesheets.authorization_header import NAME as AUTHORIZATION
from timesheets.authorization_header import REPEATED
from timesheets.bearer.dependencies import principal_of
from timesheets.bearer.errors import InvalidRequest
from timesheets.bearer.transport import token_from_request
from timesheets.fast_lane import handler_for
from timesheets.metrics import LATENCY, REQUESTS, child
from timesheets.request_id import HEADER, current_request_id, request_id_of

PATHS = ("/timesheets", "/timesheet")
_WANTED = frozenset(
    (
        AUTHORIZATION,
        b"content-length",
        b"content-type",
        b"idempotency-key",
        b"origin",
        HEADER,
    )
)
_JSON = (b"content-type", b"application/json")


class CreateLane:
    """Serves plain JSON creates itself and hands every other request to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        api: Starlette,
        context: ApiContext,
        service: str,
        *,
        vary_origin: bool = False,
    ) -> None:
        self.app = app
        self.api = api
        self.context = context
        self.service = service
        self.vary_origin = vary_origin

    @property
    def state(self) -> Any:
        """The application's state, as on the app itself."""
        return self.api.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in PATHS:
            headers, repeated = _first_values(scope["headers"])
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            if b"origin" not in headers and media_type_of(content_type) in JSON_TYPES:
                await self._create(scope, receive, send, headers, repeated)
                return
        await self.app(scope, receive, send)

    async def _create(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        repeated: bool,
    ) -> None:
        route = scope["path"]
        request_id = request_id_of(headers.get(HEADER))
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        status = 500
        id_header = (HEADER, request_id.encode())
        try:
            try:
                status, body, extra = await self._created(scope, receive, headers, repeated)
            except Exception as error:
                status = await self._answer_error(scope, receive, send, error, id_header)
                return
            content = json_content(body)
            raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
            raw += [(b"content-length", str(len(content)).encode("latin-1")), _JSON]
            if self.vary_origin:
                raw = _with_vary_origin(raw)
            raw.append(id_header)
            await send({"type": "http.response.start", "status": status, "headers": raw})
            await send({"type": "http.response.body", "body": content})
        finally:
            child(REQUESTS, self.service, route, "POST", str(status)).inc()
            child(LATENCY, self.service, route).observe(time.perf_counter() - started)
            current_request_id.reset(token)

    async def _created(
        self, scope: Scope, receive: Receive, headers: dict[bytes, bytes], repeated: bool
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """`routers.writes.create_timesheet`'s steps, on the headers read once; `repeated`
        when the Authorization header came more than once."""
        context = self.context
        if repeated:
            # RFC 9110 §11.6.2, RFC 6750 §3.1, as `authorization_header` refuses it.
            raise InvalidRequest(REPEATED)
        authorization = headers.get(AUTHORIZATION)
        bearer = token_from_request(
            None if authorization is None else authorization.decode("latin-1"),
            scope.get("query_string", b"").decode("latin-1"),
        )
        principal = await principal_of(bearer, context.verifier, CREATE_SCOPE)
        key = headers.get(b"idempotency-key")
        key_text = idempotency_key(None if key is None else key.decode("latin-1"))
        declared = headers.get(b"content-length")
        body = await receive_limited(
            receive,
            None if declared is None else declared.decode("latin-1"),
            context.settings.max_body_bytes,
        )
        return await created(context, principal, decoded(body), key_text)

    async def _answer_error(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        error: Exception,
        id_header: tuple[bytes, bytes],
    ) -> int:
        """Answer `error` as the app's exception handlers do (an error none takes goes
        on up, answered 500 by the server); the status sent."""
        handler = handler_for(self.api.exception_handlers, error)
        if handler is None:
            raise error
        scope["app"] = self.api
        answer = handler(Request(scope, receive, send), error)
        response = await answer if inspect.isawaitable(answer) else answer
        status: int = response.status_code

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if self.vary_origin:
                    headers = _with_vary_origin(headers)
                message["headers"] = [*headers, id_header]
            await send(message)

        await response(scope, receive, send_with_id)
        return status


def _first_values(raw: list[tuple[bytes, bytes]]) -> tuple[dict[bytes, bytes], bool]:
    """The first value of each header this layer reads, as Starlette's `Headers.get`
    returns it (names arrive lower-case from the server, as ASGI requires), and whether
    Authorization came more than once, noted in the same pass."""
    found: dict[bytes, bytes] = {}
    repeated = False
    for name, value in raw:
        if name in _WANTED:
            if name not in found:
                found[name] = value
            elif name == AUTHORIZATION:
                repeated = True
    return found, repeated


def _with_vary_origin(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers with `Origin` joined to `Vary`, in the place Starlette's CORS layer
    puts it: the first `Vary` holds every value, or a new one goes last."""
    joined = b", ".join([*(value for name, value in headers if name == b"vary"), b"Origin"])
    result: list[tuple[bytes, bytes]] = []
    placed = False
    for name, value in headers:
        if name == b"vary":
            if not placed:
                result.append((name, joined))
                placed = True
            continue
        result.append((name, value))
    if not placed:
        result.append((b"vary", joined))
    return result
