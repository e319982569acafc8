"""The `/readyz` answer shared by the services: 200 when every check passes, else 503."""

from __future__ import annotations

import json

from starlette.responses import Response

RETRY_AFTER_SECONDS = 5


def readiness(checks: dict[str, bool]) -> Response:
    """A JSON answer naming each check; 503 with `Retry-After` when one fails."""
    ready = all(checks.values())
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {name: "ok" if ok else "failing" for name, ok in checks.items()},
    }
    headers = {"Cache-Control": "no-store"}
    if not ready:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return Response(json.dumps(body), 200 if ready else 503, headers, "application/json")
