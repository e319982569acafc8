"""The id of the request being served, for log lines and the `X-Request-Id` header."""

from __future__ import annotations

import contextvars
import os
import random
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
            return request_id_of(value)
    return _IDS.next()


def request_id_of(value: bytes | None) -> str:
    """The caller's first `X-Request-Id` value when it is a sane token, else a new id."""
    if value is not None:
        text = value.decode("latin-1")
        if _SANE_ID.fullmatch(text):
            return text
    return _IDS.next()


def new_request_id(prefix: str = "") -> str:
    """A fresh id, optionally after a prefix (the import job names its run)."""
    return f"{prefix}{_IDS.next()}"


class _Ids:
    """128-bit ids from a generator seeded once per process from the system's random
    source, and seeded again in a forked child, so parent and child never issue the same.

    A request id has to be unique and to tell a client nothing (a counter would show how
    busy a worker is), but it is no secret; reading the system's random source for each
    one showed in the token endpoint's profile.
    """

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self.random = random.Random(secrets.randbits(128))

    def next(self) -> str:
        return f"{self.random.getrandbits(128):032x}"


_IDS = _Ids()
os.register_at_fork(after_in_child=_IDS.restart)
