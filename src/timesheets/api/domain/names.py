"""Who an entry belongs to, by name: the person's display name from their own token.

An issuer may put a person's `name` (OpenID Connect Core §5.1) in their access tokens
(RFC 9068 §2.2.2 leaves identity claims to it). The API keeps it with the entries the
person logs, as it was when they logged them, so that a manager sees who logged hours
rather than an opaque subject. Entries a machine stores for someone have no name.

Names are shown to people only: the person consented to share their profile with the
client they signed in with, not with every machine client that reads entries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from timesheets.bearer.claims import Principal

MAX_LENGTH = 200
# Control characters (a NUL, which PostgreSQL text cannot hold, among them) and unpaired
# surrogates, which no encoding stores: none belongs in a name shown to people.
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def display_name(claims: Mapping[str, Any]) -> str | None:
    """The `name` claim, its control characters and unpaired surrogates made spaces, its
    runs of white space one space, cut to MAX_LENGTH characters; None when it is absent,
    not text, or blank."""
    value = claims.get("name")
    if not isinstance(value, str):
        return None
    return " ".join(_UNSHOWABLE.sub(" ", value).split())[:MAX_LENGTH] or None


def owner_name(principal: Principal, owner: str) -> str | None:
    """The name of an entry's owner: the caller's own, when a person logs their hours."""
    if principal.is_machine or owner != principal.subject:
        return None
    return display_name(principal.claims)


def shows_names(principal: Principal) -> bool:
    """Whether the caller sees owners' names: people's tokens do (their own, a manager's
    everyone's they may read), machine tokens do not."""
    return not principal.is_machine
