"""Reading JSON request bodies strictly: UTF-8 without BOM, no duplicate members.

Python's `json` parser is used (rather than the validator's own) so that a duplicate
member is refused instead of silently keeping the last value, and so that NaN,
Infinity and lone surrogates reach validation as values it refuses with a 422.
"""

from __future__ import annotations

import json
from typing import Any

from timesheets import strict_json


class MalformedBody(ValueError):
    """The body is not well-formed UTF-8 JSON (400)."""


def parse_json(body: bytes) -> Any:
    """The JSON value of a body; raises MalformedBody for anything not well-formed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody("the body is not UTF-8") from exc
    if text.startswith("\ufeff"):
        raise MalformedBody("the body starts with a byte order mark")
    try:
        return strict_json.loads(text, constants="float")
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"malformed JSON at line {exc.lineno} column {exc.colno}") from exc
    except ValueError as exc:
        raise MalformedBody(str(exc)) from exc


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
