"""Who may act on whose entries.

A person's token acts on that person's entries only; the person comes from the token.
A manager (approve:timesheets) may also read everyone's and decide on them. A machine
token (no person) names the person it creates for, and reads every entry it may read;
it deletes only the entries it stored itself, as that machine client, never the hours a
person logged (even through a client that also holds the client credentials grant) or
another client stored for them.
"""

from __future__ import annotations

from timesheets.bearer.claims import Principal

APPROVE = "approve:timesheets"
#: The most characters an entry's user_id holds (a person's own entries are theirs by `sub`).
USER_ID_MAX_LENGTH = 100


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
    if len(principal.subject) > USER_ID_MAX_LENGTH:
        raise AccessRefused(
            "user_id",
            f"the token's subject is longer than the {USER_ID_MAX_LENGTH} characters "
            "of a user_id, so it cannot own entries",
        )
    return principal.subject


def sees_everyone(principal: Principal) -> bool:
    """Whether the caller may read every person's entries."""
    return principal.is_machine or APPROVE in principal.scopes


def may_read(principal: Principal, owner: str) -> bool:
    """Whether the caller may read an entry of `owner`."""
    return sees_everyone(principal) or owner == principal.subject


def may_delete(principal: Principal, owner: str, stored_by: tuple[str, str]) -> bool:
    """Whether the caller may delete an entry of `owner` stored by `stored_by`, a
    (subject, client id) pair: people their own only, machines what they stored."""
    if principal.is_machine:
        return stored_by == (principal.subject, principal.client_id)
    return owner == principal.subject
