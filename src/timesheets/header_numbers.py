"""Numbers in HTTP header values (`Content-Length`, `Retry-After`): ASCII digits only.

`str.isdigit` also takes digits such as "²" that `int` and `float` refuse; a header
holding them is treated as holding no number rather than raising.
"""

from __future__ import annotations


def digits(value: str) -> bool:
    """Whether `value` is a non-empty run of ASCII digits."""
    return value.isascii() and value.isdigit()


def declared_over(declared: str | None, limit: int) -> bool:
    """Whether a declared `Content-Length` rules the body out: not a plain number, or
    more than `limit` bytes. None (no header) does not."""
    return declared is not None and (not digits(declared) or int(declared) > limit)
