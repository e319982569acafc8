"""Scope strings (RFC 6749 §3.3): the grammar, order, repeats and absence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timesheets.authserver.oauth.errors import InvalidScope
from timesheets.authserver.oauth.scope import format_scope, is_scope_token, parse_scope

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
TOKEN_CHARS = "".join(chr(c) for c in [0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F)])
scope_tokens = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=20)
GRAMMAR = r"scope must be scope tokens separated by single spaces \(RFC 6749 3\.3\)"


def test_absent_scope_is_none() -> None:
    assert parse_scope(None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("read:timesheets", ("read:timesheets",)),
        ("read:timesheets create:timesheets", ("read:timesheets", "create:timesheets")),
        ("b a c", ("b", "a", "c")),
        ("a b a", ("a", "b")),
        ("x x x", ("x",)),
        ("!#$%&'()*+,-./:;<=>?@[]^_`{|}~", ("!#$%&'()*+,-./:;<=>?@[]^_`{|}~",)),
    ],
)
def test_scope_keeps_order_and_drops_repeats(value: str, expected: tuple[str, ...]) -> None:
    """RFC 6749 §3.3: a space-delimited list; the order is kept, repeats are dropped."""
    assert parse_scope(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param(" ", id="single-space"),
        pytest.param("a  b", id="double-space"),
        pytest.param(" a", id="leading-space"),
        pytest.param("a ", id="trailing-space"),
        pytest.param('a"b', id="double-quote"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("caf\u00e9", id="non-ascii"),
        pytest.param("a\u00a0b", id="no-break-space"),
        pytest.param("a\tb", id="tab"),
        pytest.param("a\nb", id="lf"),
        pytest.param("a\n", id="trailing-lf"),
        pytest.param("a\r\nb", id="crlf"),
        pytest.param("a\x00", id="nul"),
        pytest.param("a\x7f", id="del"),
    ],
)
def test_scope_outside_the_grammar_is_invalid_scope(value: str) -> None:
    """RFC 6749 §3.3: scope-token characters joined by single spaces, nothing else."""
    with pytest.raises(InvalidScope, match=GRAMMAR) as caught:
        parse_scope(value)
    assert caught.value.error == "invalid_scope"
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    ("value", "expected"),
    [("read:a", True), ("!", True), ("~", True), ("", False), ("a b", False), ('"', False)],
)
def test_is_scope_token(value: str, expected: bool) -> None:
    assert is_scope_token(value) is expected


@pytest.mark.parametrize(
    ("scopes", "expected"), [((), ""), (("a",), "a"), (("a", "b"), "a b"), (["b", "a"], "b a")]
)
def test_format_scope_joins_with_single_spaces(
    scopes: tuple[str, ...] | list[str], expected: str
) -> None:
    assert format_scope(scopes) == expected


@given(st.lists(scope_tokens, min_size=1))
def test_any_list_of_valid_tokens_round_trips(tokens: list[str]) -> None:
    """Property: joining valid tokens by single spaces parses back, in order, without repeats."""
    parsed = parse_scope(" ".join(tokens))
    assert parsed == tuple(dict.fromkeys(tokens))
    assert parse_scope(format_scope(parsed)) == parsed


@given(
    st.lists(scope_tokens, min_size=1, max_size=5),
    st.characters(exclude_characters=TOKEN_CHARS + " "),
    st.integers(min_value=0),
)
def test_any_character_outside_the_grammar_is_refused(
    tokens: list[str], bad: str, where: int
) -> None:
    """Property: one character outside §3.3 anywhere in the value makes it invalid."""
    value = " ".join(tokens)
    index = where % (len(value) + 1)
    with pytest.raises(InvalidScope):
        parse_scope(value[:index] + bad + value[index:])
