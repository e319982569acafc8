"""Strict JSON: duplicate members, NaN and Infinity, deep nesting."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor

import pytest

from timesheets.strict_json import DuplicateMember, NonJsonConstant, loads


def test_plain_json_parses_as_the_standard_library_does() -> None:
    text = '{"a": [1, 2.5, "x", null, true], "b": {"c": {}}}'
    assert loads(text) == json.loads(text)


@pytest.mark.parametrize("text", ['{"a": 1, "a": 2}', '{"x": [{"b": 1, "b": 1}]}'])
def test_a_member_named_twice_is_refused_at_any_depth(text: str) -> None:
    with pytest.raises(DuplicateMember):
        loads(text)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused_or_read_as_floats(constant: str) -> None:
    with pytest.raises(NonJsonConstant):
        loads(f'{{"hours": {constant}}}')
    value = loads(f'{{"hours": {constant}}}', constants="float")["hours"]
    assert isinstance(value, float)
    assert not math.isfinite(value)


def test_deep_nesting_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        loads("[" * 100_000 + "]" * 100_000)


def test_the_shared_decoders_answer_each_thread_its_own_document() -> None:
    documents = [json.dumps({f"k{i}": i, "list": list(range(i % 7))}) for i in range(400)]
    with ThreadPoolExecutor(4) as pool:
        parsed = list(pool.map(loads, documents))
    assert parsed == [json.loads(text) for text in documents]
