"""Who may act on whose entries.

A person's token acts on that person's entries only; the person comes from the token.
A manager (approve:timesheets) may also read everyone's and decide on them. A machine
token (no person) names the person it creates for, and reads every entry it may read;
it deletes only the entries its own client stored (an import withdrawing its rows),
never the hours a person logged themselves or another client stored for them.
"""

from __future__ import annotations

from timesheets.bearer.claims import Principal

APPROVE = "approve:timesheets"


class AccessRefused(ValueError):
    """A field the caller may not set; answered as 422 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def owner_for_create(principal: Principal, body_user_id: str | None) -> str:
    """Whose entry a create makes."""
    if principal.is_machine:
        if body_user_id is None:
            raise AccessRefused("user_id", "a machine client must name the user_id")
        return body_user_id
    if body_user_id is not None and body_user_id != principal.subject:
        raise AccessRefused("user_id", "a person creates entries for themselves only")
    return principal.subject


def sees_everyone(principal: Principal) -> bool:
    """Whether the caller may read every person's entries."""
    return principal.is_machine or APPROVE in principal.scopes


def may_read(principal: Principal, owner: str) -> bool:
    """Whether the caller may read an entry of `owner`."""
    return sees_everyone(principal) or owner == principal.subject


def may_delete(principal: Principal, owner: str, stored_by_client: str) -> bool:
    """Whether the caller may delete an entry of `owner` that the client
    `stored_by_client` stored (people: their own only; machines: their client's only)."""
    if principal.is_machine:
        return stored_by_client == principal.client_id
    return owner == principal.subject
