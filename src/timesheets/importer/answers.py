"""The JSON answers of the authorization server and the API, read without trusting them:
a proxy's HTML page or a truncated body is a temporary failure, never a traceback."""

from __future__ import annotations

from typing import Any

import httpx


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's body as a JSON object, or None when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def malformed(response: httpx.Response) -> str:
    """The message for an answer whose body is not what was expected."""
    return (
        f"{response.request.url} answered {response.status_code} "
        "with a body that is not the expected JSON"
    )
