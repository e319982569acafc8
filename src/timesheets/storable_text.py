"""Text the databases can store and compare as it is.

PostgreSQL's text cannot hold a NUL (and cannot even compare one), and an unpaired
surrogate is no Unicode character (RFC 8259 §8.2: such strings behave unpredictably), so
no encoding stores it. Bodies, query filters and token identifiers are checked here
before they reach a statement, so that one caller's odd text is refused on its own
rather than failing a statement that carries other callers' writes too.
"""

from __future__ import annotations

import re

_NUL = "\x00"
_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored ("a NUL character", "an unpaired surrogate"), or None."""
    if _NUL in text:
        return "a NUL character"
    if _SURROGATE.search(text):
        return "an unpaired surrogate"
    return None
