"""Numbers in header values: ASCII digits only."""

from __future__ import annotations

import pytest

from timesheets.header_numbers import declared_over, digits


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", True),
        ("120", True),
        ("", False),
        ("²", False),
        ("-1", False),
        (" 2", False),
        ("1e3", False),
    ],
)
def test_only_ascii_digits_are_a_number(value: str, expected: bool) -> None:
    assert digits(value) is expected


@pytest.mark.parametrize(
    ("declared", "over"), [(None, False), ("1024", False), ("1025", True), ("²", True), ("", True)]
)
def test_a_declared_length_rules_a_body_out_when_odd_or_too_large(
    declared: str | None, over: bool
) -> None:
    assert declared_over(declared, 1024) is over
