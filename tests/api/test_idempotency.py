"""Fingerprints of bodies, and replays of the answers stored under an Idempotency-Key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from timesheets.api.errors import ApiError
from timesheets.api.idempotency import (
    REUSED,
    Reply,
    fingerprint,
    remembered,
    replay,
    replay_or_refusal,
)

BODY = {"user_id": "007", "hours": 5, "project": "StoreZero"}


def test_a_fingerprint_ignores_member_order_and_names_the_endpoint() -> None:
    one = {"b": 1, "a": [1, {"y": 2, "x": 3}]}
    same = {"a": [1, {"x": 3, "y": 2}], "b": 1}
    assert fingerprint(one) == fingerprint(same)
    assert fingerprint(one, "POST /timesheets/upload\n") == fingerprint(
        same, "POST /timesheets/upload\n"
    )
    assert fingerprint(one, "POST /timesheets/upload\n") != fingerprint(one)
    assert fingerprint([1, 2]) != fingerprint([2, 1])
    assert fingerprint(BODY) != fingerprint([BODY])
    assert len(fingerprint(one, "POST /timesheets/upload\n")) == 64  # the column's width


def test_a_creates_fingerprint_is_the_one_its_stored_records_hold() -> None:
    # Records stored before the upload took keys hold this digest: a retry must match it.
    assert fingerprint(BODY) == "3ceb651c110acaef66112994a3678d944053cbd897156bdc7f8555463e034974"


def test_a_stored_answer_is_replayed_for_its_own_body_only() -> None:
    answer = Reply(201, {"id": "e-1", "external_id": 2**70, "odd": "\ud800", "n": None})
    record = remembered("importer@clients", "k-1", fingerprint(BODY), answer, datetime.now(UTC))
    assert (record["subject"], record["key"], record["status_code"]) == (
        "importer@clients",
        "k-1",
        201,
    )
    assert replay(record, fingerprint(BODY)) == answer
    assert replay_or_refusal(record, fingerprint(BODY)) == answer

    other = fingerprint(BODY | {"hours": 6})
    with pytest.raises(ApiError) as caught:
        replay(record, other)
    assert (caught.value.status, caught.value.message) == (422, REUSED)
    refusal = replay_or_refusal(record, other)
    assert isinstance(refusal, ApiError)
    assert (refusal.status, refusal.message) == (422, REUSED)
