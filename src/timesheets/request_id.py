"""The id of the request being served, for log lines and the `X-Request-Id` header."""

from __future__ import annotations

import contextvars
import re
import secrets

HEADER = b"x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's request id when it is a sane token, else a new one."""
    for name, value in headers:
        if name == HEADER:
            text = value.decode("latin-1")
            if _SANE_ID.fullmatch(text):
                return text
            break
    return secrets.token_hex(16)


def new_request_id(prefix: str = "") -> str:
    """A fresh id, optionally after a prefix (the import job names its run)."""
    return f"{prefix}{secrets.token_hex(16)}"
