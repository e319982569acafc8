"""Reading a token request (RFC 6749 §3.2, §3.1): form-encoded parameters, each at most once.

Written by hand rather than through a framework's form parser because the rules are
exact and the token endpoint is a hot path: only `application/x-www-form-urlencoded`
(and the JSON body that the original scenario's clients send), empty values treated as
omitted (§3.1), every parameter but `resource` (RFC 8707 §2) at most once (§3.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from timesheets import strict_json
from timesheets.authserver.oauth.errors import InvalidRequest

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MAX_FIELDS = 64
REPEATABLE = frozenset({"resource"})
SECRET_PARAMETERS = frozenset({"client_secret", "code_verifier", "refresh_token", "password"})


@dataclass(frozen=True)
class TokenRequest:
    """The parameters of one token request."""

    params: Mapping[str, str]
    resources: tuple[str, ...]

    def get(self, name: str) -> str | None:
        """A single-valued parameter, None when absent."""
        return self.params.get(name)


def media_type(content_type: str | None) -> tuple[str, dict[str, str]]:
    """The lower-cased media type and its parameters."""
    if not content_type:
        return "", {}
    kind, _, rest = content_type.partition(";")
    params = {}
    for item in rest.split(";"):
        key, sep, value = item.strip().partition("=")
        if sep:
            params[key.lower()] = value.strip().strip('"').lower()
    return kind.strip().lower(), params


def _collect(pairs: list[tuple[str, str]]) -> TokenRequest:
    params: dict[str, str] = {}
    resources: list[str] = []
    seen: set[str] = set()
    for name, value in pairs:
        if name in REPEATABLE:
            if value:
                resources.append(value)
            continue
        if name in seen:
            raise InvalidRequest(f"parameter {name} is repeated (RFC 6749 3.1)")
        seen.add(name)
        if value:
            params[name] = value
    return TokenRequest(params=params, resources=tuple(resources))


def parse_form(body: bytes) -> TokenRequest:
    """Parse an `application/x-www-form-urlencoded` body."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("the request body is not valid form-encoded UTF-8") from exc
    return _collect(pairs)


def parse_json(body: bytes) -> TokenRequest:
    """Parse the JSON body the original scenario's clients send: an object of strings."""
    try:
        document = strict_json.loads(body.decode("utf-8"))
    except strict_json.DuplicateMember as exc:
        raise InvalidRequest(f"parameter {exc.key} is repeated (RFC 6749 3.1)") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("the request body is not a valid JSON object") from exc
    if not isinstance(document, dict) or len(document) > MAX_FIELDS:
        raise InvalidRequest("the request body must be a JSON object of parameters")
    pairs: list[tuple[str, str]] = []
    for name, value in document.items():
        values = value if name in REPEATABLE and isinstance(value, list) else [value]
        if len(values) > MAX_FIELDS:
            raise InvalidRequest(f"too many values for {name}")
        for item in values:
            if not isinstance(item, str):
                raise InvalidRequest(f"parameter {name} must be a string")
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    # RFC 8259 §8.2: "\ud800" parses to a lone surrogate, which is no text;
                    # hashing or storing it would fail later (a 500). A form body cannot
                    # carry one: it is decoded as strict UTF-8.
                    raise InvalidRequest(f"parameter {name} is not valid Unicode") from None
            pairs.append((name, item))
    return _collect(pairs)


def parse_token_request(content_type: str | None, body: bytes, query: str) -> TokenRequest:
    """Parse and check a token request; raises InvalidRequest on any breach of §3.2."""
    query_names = {name for name, _ in parse_qsl(query, keep_blank_values=True)} if query else ()
    if SECRET_PARAMETERS.intersection(query_names):
        # RFC 6749 §2.3.1: credentials MUST NOT be included in the request URI.
        raise InvalidRequest("credentials must not be sent in the request URI")
    kind, params = media_type(content_type)
    charset = params.get("charset", "utf-8")
    if charset not in ("utf-8", "utf8"):
        raise InvalidRequest("the request body must be UTF-8")
    if kind == FORM:
        return parse_form(body)
    if kind == JSON:
        return parse_json(body)
    raise InvalidRequest(f"the request body must be {FORM} (RFC 6749 3.2)")
