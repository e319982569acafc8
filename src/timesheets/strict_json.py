"""JSON as the platform reads it from the outside: an object never has a member twice.

Python's parser keeps the last of duplicate members, where another parser may keep the
first; refusing them closes that gap (RFC 8259 §4, RFC 7515 §4, RFC 7519 §4). Deep
nesting becomes a ValueError instead of a RecursionError.
"""

from __future__ import annotations

import json
from typing import Any, Literal


class DuplicateMember(ValueError):
    """An object names the same member twice."""

    def __init__(self, key: str) -> None:
        super().__init__(f"member {key!r} appears twice")
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateMember(key)
        result[key] = value
    return result


class NonJsonConstant(ValueError):
    """NaN, Infinity or -Infinity, which JSON does not have."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not valid JSON")
        self.name = name


def _refuse(name: str) -> Any:
    raise NonJsonConstant(name)


def _as_float(name: str) -> float:
    return float(name.replace("Infinity", "inf"))


# Made once: `json.loads` with hooks builds a decoder and its scanner on every call. One
# decoder serves every thread, as the standard library's own default decoder does.
_DECODERS = {
    "refuse": json.JSONDecoder(object_pairs_hook=_object, parse_constant=_refuse),
    "float": json.JSONDecoder(object_pairs_hook=_object, parse_constant=_as_float),
}


def loads(text: str, *, constants: Literal["refuse", "float"] = "refuse") -> Any:
    """Parse JSON text; NaN and Infinity are refused or (for validation to refuse) floats.

    Raises DuplicateMember, NonJsonConstant, json.JSONDecodeError or ValueError.
    """
    try:
        return _DECODERS[constants].decode(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
