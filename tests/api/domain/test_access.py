"""Who may act on whose entries: people on their own, managers read all, machines name a user."""

from __future__ import annotations

from typing import Any

import pytest

from timesheets.api.domain.access import (
    APPROVE,
    USER_ID_MAX_LENGTH,
    AccessRefused,
    may_delete,
    may_read,
    owner_for_create,
    sees_everyone,
)
from timesheets.api.models import Entry
from timesheets.api.schemas import EntryFields
from timesheets.bearer.claims import Principal


def principal(subject: str, client_id: str, scope: str = "", **claims: Any) -> Principal:
    """A caller as the verifier would produce it."""
    all_claims = {"sub": subject, "client_id": client_id, "scope": scope, **claims}
    return Principal(subject, client_id, frozenset(scope.split()), all_claims)


PERSON = principal("alice", "spa", "read:timesheets create:timesheets")
MANAGER = principal("mona", "spa", f"read:timesheets {APPROVE}")
MACHINE = principal("importer@clients", "importer", gty="client-credentials")


@pytest.mark.parametrize(
    ("caller", "machine"),
    [
        (PERSON, False),
        (MANAGER, False),
        (MACHINE, True),
        (principal("job", "job"), True),
        (principal("job@clients", "job"), True),
        (principal("job", "spa", gty="client-credentials"), True),
        (principal("bob", "spa", gty="authorization_code"), False),
        (principal("job@clients", "other"), False),
    ],
)
def test_a_machine_is_a_client_credentials_token_or_a_subject_equal_to_the_client(
    caller: Principal, machine: bool
) -> None:
    assert caller.is_machine is machine


def test_a_person_creates_for_themselves() -> None:
    assert owner_for_create(PERSON, None) == "alice"
    assert owner_for_create(PERSON, "alice") == "alice"


def test_a_person_naming_someone_else_is_refused_on_user_id() -> None:
    with pytest.raises(AccessRefused, match="for themselves only") as refused:
        owner_for_create(PERSON, "bob")
    assert refused.value.field == "user_id"


def test_a_manager_too_creates_only_for_themselves() -> None:
    with pytest.raises(AccessRefused):
        owner_for_create(MANAGER, "alice")


def test_a_machine_must_name_the_user() -> None:
    assert owner_for_create(MACHINE, "007") == "007"
    with pytest.raises(AccessRefused, match="must name the user_id") as refused:
        owner_for_create(MACHINE, None)
    assert refused.value.field == "user_id"


def test_reading_a_person_sees_only_their_own() -> None:
    assert not sees_everyone(PERSON)
    assert may_read(PERSON, "alice")
    assert not may_read(PERSON, "bob")


def test_managers_and_machines_read_everyone() -> None:
    for caller in (MANAGER, MACHINE):
        assert sees_everyone(caller)
        assert may_read(caller, "bob")
        assert may_read(caller, caller.subject)


def test_people_delete_their_own_and_machines_what_they_stored() -> None:
    by_alice, by_machine = ("alice", "spa"), ("importer@clients", "importer")
    assert may_delete(PERSON, "alice", by_alice)
    assert may_delete(PERSON, "alice", by_machine)
    assert not may_delete(PERSON, "bob", ("bob", "spa"))
    # Approving everyone's entries does not make them the manager's to delete.
    assert not may_delete(MANAGER, "alice", by_alice)
    assert may_delete(MANAGER, "mona", ("mona", "spa"))
    assert may_delete(MACHINE, "alice", by_machine)
    assert not may_delete(MACHINE, "alice", by_alice)
    assert not may_delete(MACHINE, "alice", ("payroll@clients", "payroll"))
    # A person who logged hours through the machine's own client (one that also holds
    # the client credentials grant): still the person's, not the machine's.
    assert not may_delete(MACHINE, "alice", ("alice", "importer"))


def test_a_persons_subject_up_to_the_length_of_a_user_id_owns_their_entry() -> None:
    subject = "p" * USER_ID_MAX_LENGTH
    assert owner_for_create(principal(subject, "spa"), None) == subject


def test_a_persons_subject_longer_than_a_user_id_cannot_own_entries() -> None:
    with pytest.raises(AccessRefused) as refused:
        owner_for_create(principal("p" * (USER_ID_MAX_LENGTH + 1), "spa"), None)
    assert refused.value.field == "user_id"
    assert "longer than the 100 characters" in str(refused.value)


def test_the_user_id_bound_is_the_columns_and_the_bodys() -> None:
    """The bound a person's subject is held to is the one the table stores and a body's
    user_id is validated against, so they cannot drift apart."""
    assert Entry.__table__.c.user_id.type.length == USER_ID_MAX_LENGTH
    schema = EntryFields.model_json_schema()["properties"]["user_id"]
    lengths = [v.get("maxLength") for v in schema.get("anyOf", [schema])]
    assert USER_ID_MAX_LENGTH in lengths
