"""An ASGI front that hands a few hot routes straight to their endpoint.

A request through FastAPI passes its error, telemetry, body-limit, exception and
exit-stack layers and a linear route match before it reaches a plain endpoint; on the
token and write paths that costs as much as the endpoint's own work apart from signing
or committing. The lane keeps what those routes need (the app's exception handlers where
the endpoint relies on them, and the wrapper the service puts around them, CORS) and
skips the rest. The routes stay registered in the app too, so every other method and
path behaves as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


def with_handlers(app: Starlette, endpoint: Endpoint) -> ASGIApp:
    """A request/response endpoint as an ASGI app whose errors `app`'s exception handlers
    answer.

    One layer where Starlette's `ExceptionMiddleware(request_response(endpoint))` puts
    four, two of them wrapping `send`. As there, a handler is found by the exception's
    class along its MRO (or, for an HTTPException, by its status code first), and an
    exception no handler takes goes on up; the handlers are looked up when the error
    happens, so those the app registers later count too.
    """

    async def lane(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as error:
            handler = handler_for(app.exception_handlers, error)
            if handler is None:
                raise
            answer = handler(request, error)
            response = await answer if inspect.isawaitable(answer) else answer
        await response(scope, receive, send)

    return lane


def handler_for(handlers: Mapping[Any, Callable[..., Any]], error: Exception) -> Any:
    """The exception handler that takes `error`, as Starlette chooses it, or None."""
    if isinstance(error, HTTPException) and error.status_code in handlers:
        return handlers[error.status_code]
    for kind in type(error).__mro__:
        if kind in handlers:
            return handlers[kind]
    return None


class FastLane:
    """Dispatches exact (method, path) matches to their lane, everything else to `app`."""

    def __init__(
        self,
        app: Starlette,
        lanes: Mapping[tuple[str, str], ASGIApp],
        wrap: Callable[[ASGIApp], ASGIApp] = lambda inner: inner,
    ) -> None:
        self.app = app
        self.lanes = {key: wrap(lane) for key, lane in lanes.items()}

    @property
    def state(self) -> Any:
        """The application's state, as on the app itself."""
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            lane = self.lanes.get((scope["method"], scope["path"]))
            if lane is not None:
                scope["app"] = self.app
                scope["timesheets.route"] = scope["path"]
                await lane(scope, receive, send)
                return
        await self.app(scope, receive, send)
