"""Strict parsing of a compact JWS (RFC 7515 §7.1) before any key is looked up.

Written by hand around `cryptography`-backed verification because general JWT
libraries are lenient where a resource server must not be: PyJWT accepts `=` padding,
keeps the last of duplicate claims, accepts NaN and non-canonical base64, and parses
multi-megabyte tokens. Here each segment must be canonical base64url without padding
(RFC 7515 §2), JSON must be an object without duplicate members (RFC 7515 §4, RFC 7519
§4), and header members that would make us fetch keys or change processing are refused.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from timesheets import strict_json
from timesheets.bearer.errors import InvalidToken

MAX_TOKEN_BYTES = 8192
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_KID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
# RFC 8725 §3.10 / RFC 7515 §4.1.2-4.1.6: never fetch or trust keys a token names itself.
_REFUSED_HEADER_MEMBERS = frozenset({"jku", "jwk", "x5u", "x5c", "crit", "b64"})


@dataclass(frozen=True)
class CompactJws:
    """A parsed token: header, payload, the signed input and the signature bytes."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        """The header's `alg`."""
        return str(self.header["alg"])

    @property
    def kid(self) -> str | None:
        """The header's `kid`, if any."""
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def b64url_decode(segment: str) -> bytes:
    """Decode canonical unpadded base64url; anything else is an invalid token."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise InvalidToken("malformed base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("malformed base64url") from exc
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != segment:
        raise InvalidToken("non-canonical base64url")
    return raw


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = strict_json.loads(raw.decode("utf-8"))
    except strict_json.DuplicateMember as exc:
        raise InvalidToken(f"duplicate member {exc.key}") from exc
    except strict_json.NonJsonConstant as exc:
        raise InvalidToken(str(exc)) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidToken(f"the {what} is not a JSON object") from exc
    if not isinstance(value, dict):
        raise InvalidToken(f"the {what} is not a JSON object")
    return value


def parse_compact(token: str, allowed_algs: frozenset[str]) -> CompactJws:
    """Parse and pre-check a compact JWS against a fixed algorithm allow-list."""
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("the token is too large")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("the token is not a compact JWS")
    header_b64, payload_b64, signature_b64 = parts
    if not signature_b64:
        raise InvalidToken("the token is unsigned")
    header = _json_object(b64url_decode(header_b64), "header")
    alg = header.get("alg")
    # RFC 8725 §3.1: the algorithm comes from our configuration, never from the token.
    if not isinstance(alg, str) or alg not in allowed_algs:
        raise InvalidToken("the signing algorithm is not accepted")
    refused = _REFUSED_HEADER_MEMBERS & header.keys()
    if refused:
        raise InvalidToken(f"header member {sorted(refused)[0]} is not accepted")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not _KID.fullmatch(kid)):
        raise InvalidToken("malformed kid")
    payload = _json_object(b64url_decode(payload_b64), "payload")
    return CompactJws(
        header=header,
        payload=payload,
        signing_input=f"{header_b64}.{payload_b64}".encode("ascii"),
        signature=b64url_decode(signature_b64),
    )
