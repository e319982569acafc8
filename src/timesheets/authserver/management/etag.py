"""Optimistic concurrency (RFC 9110 §8.8.3, §13.1.1): a strong ETag of each resource's JSON
representation, and `If-Match` refused with 412 when the resource changed since."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.requests import Request

from timesheets.authserver.management.errors import ManagementError


def etag_of(representation: dict[str, Any]) -> str:
    """A strong entity tag of a representation."""
    canonical = json.dumps(representation, sort_keys=True, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def check_if_match(request: Request, current: dict[str, Any]) -> None:
    """Refuse a change made against another version than the current one.

    Without `If-Match` the change applies (a script that does not care); with it, the
    header must list the current tag or be `*` (RFC 9110 §13.1.1, strong comparison).
    """
    header = request.headers.get("if-match")
    if header is None:
        return
    tags = [tag.strip() for tag in header.split(",")]
    if "*" in tags or etag_of(current) in tags:
        return
    raise ManagementError(
        412, "the resource changed since it was read; read it again and retry", "If-Match"
    )
