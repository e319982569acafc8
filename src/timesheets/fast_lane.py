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

from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import request_response
from starlette.types import ASGIApp, Receive, Scope, Send


def with_handlers(app: Starlette, endpoint: Callable[..., Any]) -> ASGIApp:
    """A Starlette request/response endpoint as an ASGI app with `app`'s exception handlers."""
    return ExceptionMiddleware(request_response(endpoint), handlers=app.exception_handlers)


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
