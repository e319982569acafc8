"""Checks of an access token's header and claims (RFC 9068 §4, RFC 8725 §3.8-3.11)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from timesheets.bearer.errors import InvalidToken
from timesheets.storable_text import unstorable

AT_JWT_TYPES = frozenset({"at+jwt", "application/at+jwt"})


@dataclass(frozen=True)
class ClaimRules:
    """What a resource server requires of a token's claims."""

    issuer: str
    audience: str
    leeway: int = 30
    max_lifetime: int = 86400
    accept_jwt_typ: bool = False
    #: Longest `sub` and `client_id`: they name the caller in what the API stores.
    max_identifier_length: int = 200


@dataclass(frozen=True)
class Times:
    """A token's NumericDates: `exp`, `iat` and, when present, `nbf`."""

    exp: float
    iat: float
    nbf: float | None


@dataclass(frozen=True)
class Principal:
    """Who called: the token's subject, client, scopes and all its claims."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    claims: dict[str, Any]

    @property
    def is_machine(self) -> bool:
        """Whether the token was issued to a client on its own behalf (no person)."""
        return self.claims.get("gty") == "client-credentials" or self.subject in (
            self.client_id,
            f"{self.client_id}@clients",
        )


def _number(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise InvalidToken(f"the {name} claim is required")
        return None
    # RFC 7519 §2 NumericDate: a JSON number; not a string, a boolean or a non-finite value.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"the {name} claim is not a NumericDate")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        raise InvalidToken(f"the {name} claim is not a NumericDate") from None
    if not math.isfinite(number):
        raise InvalidToken(f"the {name} claim is not a NumericDate")
    return number


def _required_number(claims: dict[str, Any], name: str) -> float:
    value = _number(claims, name, required=True)
    if value is None:
        raise InvalidToken(f"the {name} claim is required")
    return value


def _string(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidToken(f"the {name} claim is required")
    return value


def _identifier(claims: dict[str, Any], name: str, max_length: int) -> str:
    """A required identifier claim that can be stored as it is: at most `max_length`
    characters, without a NUL or an unpaired surrogate."""
    value = _string(claims, name)
    if len(value) > max_length:
        raise InvalidToken(f"the {name} claim is longer than {max_length} characters")
    if (problem := unstorable(value)) is not None:
        raise InvalidToken(f"the {name} claim holds {problem}")
    return value


def check_typ(header: dict[str, Any], rules: ClaimRules) -> None:
    """RFC 9068 §4: the `typ` header must be `at+jwt` (or `JWT` where configured)."""
    typ = header.get("typ")
    accepted = AT_JWT_TYPES | ({"jwt"} if rules.accept_jwt_typ else set())
    if not isinstance(typ, str) or typ.lower() not in accepted:
        raise InvalidToken("the token is not an access token (typ)")


def check_claims(claims: dict[str, Any], rules: ClaimRules, now: float) -> Principal:
    """Validate issuer, audience, times and identifiers; return the caller."""
    # RFC 9068 §4: iss must exactly match the configured issuer.
    if claims.get("iss") != rules.issuer:
        raise InvalidToken("the token is from another issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if (
        not isinstance(audiences, list)
        or not all(isinstance(a, str) for a in audiences)
        or rules.audience not in audiences
    ):
        # RFC 9068 §4 / RFC 8725 §3.9: the token must be meant for this API.
        raise InvalidToken("the token is for another audience")
    times = token_times(claims)
    check_times(times, rules, now)
    if times.exp - times.iat > rules.max_lifetime:
        raise InvalidToken("the token lives longer than allowed")
    subject = _identifier(claims, "sub", rules.max_identifier_length)
    client_id = _identifier(claims, "client_id", rules.max_identifier_length)
    _string(claims, "jti")
    return Principal(subject, client_id, _scopes(claims), claims)


def token_times(claims: dict[str, Any]) -> Times:
    """The token's NumericDates (`exp` and `iat` required)."""
    return Times(
        _required_number(claims, "exp"),
        _required_number(claims, "iat"),
        _number(claims, "nbf", required=False),
    )


def check_times(times: Times, rules: ClaimRules, now: float) -> None:
    """RFC 7519 §4.1.4-4.1.6 with the configured leeway: not expired, not issued in the
    future, not before its `nbf`. The one check of a token whose others passed before."""
    if times.exp <= now - rules.leeway:
        raise InvalidToken("the token has expired")
    if times.iat > now + rules.leeway:
        raise InvalidToken("the token was issued in the future")
    if times.nbf is not None and times.nbf > now + rules.leeway:
        raise InvalidToken("the token is not valid yet")


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    """Scopes from `scope` (space-delimited string) and the `permissions` list, if present."""
    scopes: set[str] = set()
    scope = claims.get("scope")
    if scope is not None:
        if not isinstance(scope, str):
            raise InvalidToken("the scope claim must be a string")
        scopes.update(s for s in scope.split(" ") if s)
    permissions = claims.get("permissions")
    if permissions is not None:
        if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
            raise InvalidToken("the permissions claim must be a list of strings")
        scopes.update(permissions)
    return frozenset(scopes)
