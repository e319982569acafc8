"""An entry owner's name, from their own token only."""

from __future__ import annotations

from typing import Any

import pytest

from timesheets.api.domain.names import MAX_LENGTH, display_name, owner_name, shows_names
from timesheets.bearer.claims import Principal


def principal(subject: str, **claims: Any) -> Principal:
    return Principal(subject, "spa", frozenset(), {"sub": subject, "client_id": "spa", **claims})


@pytest.mark.parametrize(
    ("claim", "name"),
    [
        ("Ann Lee", "Ann Lee"),
        ("  Ann\n\tLee  ", "Ann Lee"),
        ("Ann\x00Lee\ud800", "Ann Lee"),
        ("Ann\x1b[31m Lee\x85", "Ann [31m Lee"),
        ("Zoë 李", "Zoë 李"),
        ("x" * (MAX_LENGTH + 50), "x" * MAX_LENGTH),
        ("   ", None),
        ("", None),
        (42, None),
        (["Ann"], None),
        ({"given": "Ann"}, None),
        (None, None),
    ],
)
def test_the_name_claim_is_tidied_or_left_out(claim: Any, name: str | None) -> None:
    assert display_name({"name": claim}) == name


def test_no_name_claim_is_no_name() -> None:
    assert display_name({}) is None


def test_a_person_logging_their_own_hours_gives_their_name() -> None:
    assert owner_name(principal("alice", name="Alice Ng"), "alice") == "Alice Ng"


def test_a_machine_token_names_nobody_even_with_a_name_claim() -> None:
    machine = principal("importer@clients", name="Import job", gty="client-credentials")
    assert machine.is_machine
    assert owner_name(machine, "alice") is None
    assert owner_name(principal("bob", name="Bob"), "alice") is None


def test_people_see_names_and_machines_do_not() -> None:
    assert shows_names(principal("mona", scope="approve:timesheets"))
    assert not shows_names(principal("payroll@clients", gty="client-credentials"))
