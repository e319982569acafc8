"""Reading JSON request bodies strictly: UTF-8 without BOM, one object, no duplicate members.

Python's `json` parser is used (rather than the validator's own) so that a duplicate
member is refused instead of silently keeping the last value, and so that NaN,
Infinity and lone surrogates reach validation as values it refuses with a 422.
"""

from __future__ import annotations

import json
from typing import Any


class MalformedBody(ValueError):
    """The body is not well-formed UTF-8 JSON (400)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedBody(f"member {key!r} appears twice")
        result[key] = value
    return result


def _constant(name: str) -> float:
    return float(name.replace("Infinity", "inf"))


def parse_json(body: bytes) -> Any:
    """The JSON value of a body; raises MalformedBody for anything not well-formed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody("the body is not UTF-8") from exc
    if text.startswith("\ufeff"):
        raise MalformedBody("the body starts with a byte order mark")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_constant)
    except RecursionError as exc:
        raise MalformedBody("the body is nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"malformed JSON at line {exc.lineno} column {exc.colno}") from exc


def parse_json_lines(body: bytes) -> list[Any]:
    """The values of a JSON Lines body (blank lines skipped)."""
    values = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if line.strip():
            try:
                values.append(parse_json(line))
            except MalformedBody as exc:
                raise MalformedBody(f"line {number}: {exc}") from exc
    return values
