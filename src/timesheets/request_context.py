"""What every request carries through a service: its id, and its place in the metrics.

The outermost ASGI layer of both services. It takes the caller's `X-Request-Id` when it
is a sane token (the import job sends one per batch) or makes one, returns it in the
response, and puts it on every log line written while the request runs. It counts
requests by route and status and times them (Prometheus, `prometheus-client`), and
answers `GET /metrics` itself.

With several worker processes (`serve`), each process writes its samples to files in
`PROMETHEUS_MULTIPROC_DIR` and a scrape of any worker reports the sum of all of them.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from timesheets.metrics import LATENCY, REQUESTS, child
from timesheets.request_id import HEADER, current_request_id, request_id_from


def route_label(scope: Scope) -> str:
    """The route template that served a request (never the raw path: ids would explode
    the metric's label set)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    lane = scope.get("timesheets.route")
    return lane if isinstance(lane, str) else "unmatched"


def exposition() -> tuple[bytes, str]:
    """The metrics of this service (of every worker, when there are several)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(DEFAULT_REGISTRY), CONTENT_TYPE_LATEST


class RequestContext:
    """ASGI middleware: request ids, request metrics and `GET /metrics`."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/metrics" and scope["method"] == "GET":
            await _send_metrics(send)
            return
        request_id = request_id_from(scope["headers"])
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        status = 500
        header = (HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_label(scope)
            child(REQUESTS, self.service, route, scope["method"], str(status)).inc()
            child(LATENCY, self.service, route).observe(elapsed)
            current_request_id.reset(token)


async def _send_metrics(send: Send) -> None:
    body, content_type = exposition()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
