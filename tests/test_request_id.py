"""Request ids: the caller's when sane, a fresh one otherwise."""

from __future__ import annotations

import json
import logging
import os

import pytest

from timesheets.logging import JsonFormatter
from timesheets.request_id import (
    current_request_id,
    new_request_id,
    request_id_from,
    request_id_of,
)


def test_a_sane_caller_id_is_kept() -> None:
    assert request_id_from([(b"x-request-id", b"import-ab12-7")]) == "import-ab12-7"


@pytest.mark.parametrize(
    "value", [b"", b"two words", b"semi;colon", b"x" * 129, b"caf\xc3\xa9", b"<script>"]
)
def test_an_unsafe_or_oversized_caller_id_is_replaced(value: bytes) -> None:
    replaced = request_id_from([(b"x-request-id", value)])
    assert replaced != value.decode("latin-1")
    assert len(replaced) == 32
    assert int(replaced, 16) >= 0


def test_only_the_first_caller_id_counts() -> None:
    assert request_id_from([(b"x-request-id", b"a b"), (b"x-request-id", b"ok")]) != "ok"
    assert request_id_from([(b"x-request-id", b"ok"), (b"x-request-id", b"b")]) == "ok"


@pytest.mark.parametrize(("value", "kept"), [(b"run-1.b:2", True), (b"a b", False), (None, False)])
def test_a_header_value_is_kept_or_replaced_as_in_a_header_list(
    value: bytes | None, kept: bool
) -> None:
    listed = [] if value is None else [(b"x-request-id", value)]
    for found in (request_id_of(value), request_id_from(listed)):
        assert (found == (value or b"").decode()) is kept
        assert kept or len(found) == 32


def test_without_a_caller_id_each_request_gets_a_new_one() -> None:
    first, second = request_id_from([]), request_id_from([])
    assert first != second
    assert len(first) == len(second) == 32


def test_a_new_id_carries_its_prefix() -> None:
    made = new_request_id("import-")
    assert made.startswith("import-")
    assert len(made) == len("import-") + 32


def test_log_lines_written_during_a_request_carry_its_id() -> None:
    record = logging.makeLogRecord({"name": "t", "msg": "stored", "levelname": "INFO"})
    token = current_request_id.set("batch-9")
    try:
        during = json.loads(JsonFormatter().format(record))
    finally:
        current_request_id.reset(token)
    after = json.loads(JsonFormatter().format(record))
    assert during["request_id"] == "batch-9"
    assert "request_id" not in after


def test_a_forked_child_never_repeats_its_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        os.close(read)
        os.write(write, request_id_from([]).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = pipe.read().decode()
    os.waitpid(pid, 0)
    parent = [request_id_from([]) for _ in range(3)]
    assert len(child) == 32
    assert child not in parent
