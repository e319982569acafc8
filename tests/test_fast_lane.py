"""The fast lane: hot routes straight to their endpoint, errors answered by the app's handlers."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from timesheets.fast_lane import FastLane, with_handlers


class Refused(Exception):
    """Registered with the app."""


class RefusedHarder(Refused):
    """Not registered itself: its base's handler answers."""


class Unhandled(Exception):
    """No handler takes it."""


def build() -> tuple[FastAPI, FastLane]:
    app = FastAPI()

    async def refused(_request: Request, error: Exception) -> Response:
        return PlainTextResponse(f"refused: {type(error).__name__}", 409)

    app.add_exception_handler(Refused, refused)

    async def endpoint(request: Request) -> Response:
        kind = request.query_params.get("raise", "")
        errors: dict[str, Exception] = {
            "refused": Refused(),
            "harder": RefusedHarder(),
            "http": HTTPException(418),
            "late": LookupError("late"),
            "unhandled": Unhandled(),
        }
        if kind in errors:
            raise errors[kind]
        return PlainTextResponse(f"lane {await request.body()!r}", 201)

    @app.post("/hot")
    async def slow_path() -> dict[str, str]:
        return {"via": "app"}

    @app.get("/other")
    async def other() -> dict[str, str]:
        return {"via": "app"}

    return app, FastLane(app, {("POST", "/hot"): with_handlers(app, endpoint)})


async def call(lane: FastLane, method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=lane, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, content=b"x")


async def test_the_lane_serves_its_route_and_leaves_the_rest_to_the_app() -> None:
    _app, lane = build()
    hot = await call(lane, "POST", "/hot")
    assert (hot.status_code, hot.text) == (201, "lane b'x'")
    other = await call(lane, "GET", "/other")
    assert other.json() == {"via": "app"}


@pytest.mark.parametrize(
    ("kind", "status", "text"),
    [("refused", 409, "refused: Refused"), ("harder", 409, "refused: RefusedHarder")],
)
async def test_an_error_is_answered_by_the_handler_of_its_class_or_a_base(
    kind: str, status: int, text: str
) -> None:
    _app, lane = build()
    answer = await call(lane, "POST", f"/hot?raise={kind}")
    assert (answer.status_code, answer.text) == (status, text)


async def test_an_http_exception_goes_to_a_status_code_handler_first() -> None:
    app, lane = build()
    app.add_exception_handler(418, lambda _r, _e: PlainTextResponse("teapot", 418))
    answer = await call(lane, "POST", "/hot?raise=http")
    assert (answer.status_code, answer.text) == (418, "teapot")


async def test_handlers_registered_after_the_lane_was_built_count() -> None:
    app, lane = build()

    async def late(_request: Request, _error: Exception) -> Response:
        return PlainTextResponse("late", 503)

    app.add_exception_handler(LookupError, late)
    answer = await call(lane, "POST", "/hot?raise=late")
    assert (answer.status_code, answer.text) == (503, "late")


async def test_an_error_no_handler_takes_goes_on_up() -> None:
    _app, lane = build()
    with pytest.raises(Unhandled):
        await call(lane, "POST", "/hot?raise=unhandled")
