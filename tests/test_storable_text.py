"""Which text the databases can store as it is."""

from __future__ import annotations

import pytest

from timesheets.storable_text import unstorable


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("plain", None),
        ("Zoë 李 🚀", None),
        ("", None),
        ("\\x00 escaped, not a NUL", None),
        ("a\x00b", "a NUL character"),
        ("a\ud83d", "an unpaired surrogate"),
        ("\udc00z", "an unpaired surrogate"),
        ("\x00\ud800", "a NUL character"),
    ],
)
def test_nul_characters_and_unpaired_surrogates_cannot_be_stored(
    text: str, problem: str | None
) -> None:
    assert unstorable(text) == problem
