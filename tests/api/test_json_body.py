"""Strict JSON bodies: UTF-8 without BOM, no duplicate members, JSON Lines line by line."""

from __future__ import annotations

import math

import pytest

from timesheets.api.json_body import MalformedBody, parse_json, parse_json_lines


def test_a_well_formed_object_is_parsed() -> None:
    assert parse_json(b'{"project": "P", "hours": 7.25}') == {"project": "P", "hours": 7.25}


def test_utf8_text_and_escapes_are_decoded_exactly() -> None:
    body = '{"p": "שלום e\u0301 👩\u200d💻", "q": "\\ud83d\\ude00"}'.encode()
    assert parse_json(body) == {"p": "שלום e\u0301 👩\u200d💻", "q": "😀"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "malformed JSON at line 1 column 1"),
        (b"{", "malformed JSON"),
        (b'{"a": 1,}', "malformed JSON"),
        (b"{'a': 1}", "malformed JSON"),
        (b'{"a": 1} {"b": 2}', "malformed JSON"),
        (b'{"a": 1}\n{"b": 2}', "malformed JSON at line 2"),
        (b'\xef\xbb\xbf{"a": 1}', "byte order mark"),
        ('{"project": "caf\u00e9"}'.encode("latin-1"), "not UTF-8"),
        ('{"a": 1}'.encode("utf-16"), "not UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', "not UTF-8"),
        (b'{"a": 1, "a": 1}', "member 'a' appears twice"),
        (b'{"a": {"b": 1, "b": 2}}', "member 'b' appears twice"),
        (b'[{"hours": 1, "hours": 2}]', "appears twice"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(body: bytes, message: str) -> None:
    with pytest.raises(MalformedBody, match=message):
        parse_json(body)


def test_non_finite_constants_and_lone_surrogates_reach_validation_as_values() -> None:
    parsed = parse_json(b'{"a": NaN, "b": Infinity, "c": -Infinity, "d": "\\ud800", "e": 1e400}')
    assert math.isnan(parsed["a"])
    assert parsed["b"] == math.inf
    assert parsed["c"] == -math.inf
    assert parsed["d"] == "\ud800"
    assert parsed["e"] == math.inf


def test_json_lines_skip_blank_lines_and_keep_order() -> None:
    body = b'{"n": 1}\n\n  \n{"n": 2}\r\n[3]\n'
    assert parse_json_lines(body) == [{"n": 1}, {"n": 2}, [3]]


def test_an_empty_json_lines_body_is_no_items() -> None:
    assert parse_json_lines(b"") == []
    assert parse_json_lines(b"\n\n") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"n": 1}\n{"n": \n', "line 2: malformed JSON"),
        (b'{"n": 1}\n{"n": 1, "n": 2}', "line 2: member 'n' appears twice"),
        (b'{"n": 1}\n\n\xff\n', "line 3: the body is not UTF-8"),
        (b'\xef\xbb\xbf{"n": 1}', "line 1: the body starts with a byte order mark"),
    ],
)
def test_a_bad_json_line_is_named_by_its_number(body: bytes, message: str) -> None:
    with pytest.raises(MalformedBody, match=message):
        parse_json_lines(body)
