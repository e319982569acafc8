"""Scope strings (RFC 6749 §3.3)."""

from __future__ import annotations

import re

from timesheets.authserver.oauth.errors import InvalidScope

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), joined by single spaces.
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")


def is_scope_token(value: str) -> bool:
    """Whether `value` is one well-formed scope token."""
    return SCOPE_TOKEN.fullmatch(value) is not None


def parse_scope(value: str | None) -> tuple[str, ...] | None:
    """The scope tokens of a request in order, without repeats; None when absent.

    Raises InvalidScope for an empty value, doubled spaces or characters outside §3.3.
    """
    if value is None:
        return None
    tokens = value.split(" ")
    if not value or not all(is_scope_token(token) for token in tokens):
        raise InvalidScope("scope must be scope tokens separated by single spaces (RFC 6749 3.3)")
    return tuple(dict.fromkeys(tokens))


def format_scope(scopes: tuple[str, ...] | list[str]) -> str:
    """The space-delimited form of a scope list."""
    return " ".join(scopes)
