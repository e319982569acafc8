"""The upload use case under an Idempotency-Key: races with another instance, metrics."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert

from tests.api.conftest import MACHINE, counts
from tests.pg import until_someone_waits_for_a_lock
from timesheets.api import idempotency, uploads
from timesheets.api import repository as repo
from timesheets.api.context import ApiContext
from timesheets.api.errors import ApiError
from timesheets.api.idempotency import Reply

ITEM = {"user_id": "u1", "project": "P", "date": "2026-03-02", "hours": 2}


async def test_an_upload_that_loses_its_key_to_another_instance_replays_that_answer(
    context: ApiContext, caplog: pytest.LogCaptureFixture
) -> None:
    """Another instance commits the same key (and its answer) while the upload runs: the
    upload stores none of its entries and answers what the other one stored."""
    caplog.set_level(logging.INFO, logger="timesheets.api.writer")
    items: list[Any] = [ITEM, ITEM | {"project": "Q"}]
    theirs = Reply(200, {"created": 2, "exists": 0, "rejected": 0, "items": ["theirs"]})
    body_print = idempotency.fingerprint(items, uploads.ENDPOINT)
    record = idempotency.remembered(MACHINE.subject, "k-1", body_print, theirs, datetime.now(UTC))
    other_instance = await context.engine.connect()
    try:
        await other_instance.execute(insert(repo.idempotency).values(record))
        upload = asyncio.create_task(uploads.upload(context, MACHINE, items, "k-1"))
        if context.engine.dialect.name == "postgresql":
            await until_someone_waits_for_a_lock(context.engine)
        else:  # SQLite's waits cannot be seen
            await asyncio.sleep(0.3)
        await other_instance.commit()
        assert await upload == theirs
    finally:
        await other_instance.close()
    assert await counts(context.engine) == [0, 0, 1]
    if context.engine.dialect.name == "postgresql":  # its entries were written, then undone
        assert "a concurrent commit took a unique key first" in caplog.text


def imported(outcome: str) -> float:
    return REGISTRY.get_sample_value("timesheets_import_rows_total", {"outcome": outcome}) or 0.0


async def test_a_replayed_upload_counts_no_rows_again(context: ApiContext) -> None:
    items: list[Any] = [ITEM, ITEM | {"hours": 25}]
    before = [imported(outcome) for outcome in uploads.OUTCOMES]
    first = await uploads.upload(context, MACHINE, items, "k-1")
    assert (first.status, first.body["created"], first.body["rejected"]) == (200, 1, 1)
    counted = [imported(outcome) for outcome in uploads.OUTCOMES]
    assert [now - then for now, then in zip(counted, before, strict=True)] == [1, 0, 1]
    assert await uploads.upload(context, MACHINE, items, "k-1") == first
    assert [imported(outcome) for outcome in uploads.OUTCOMES] == counted
    assert await counts(context.engine) == [1, 1, 1]


async def test_uploads_under_one_key_in_one_turn_are_taken_one_after_the_other(
    context: ApiContext,
) -> None:
    """A refused upload stores nothing under its key, even for one of the same turn."""
    await uploads.upload(context, MACHINE, ITEM | {"hours": 20}, None)
    commits = context.writer.commits
    over, fits = ITEM | {"hours": 10}, ITEM | {"hours": 4}
    refused, created = await asyncio.gather(
        uploads.upload(context, MACHINE, over, "k-1"),
        uploads.upload(context, MACHINE, fits, "k-1"),
        return_exceptions=True,
    )
    assert context.writer.commits == commits + 1
    assert isinstance(refused, ApiError)
    assert (refused.status, refused.errors) == (
        422,
        [{"field": "hours", "message": "more than 24 hours on 2026-03-02"}],
    )
    assert isinstance(created, Reply)
    assert (created.status, created.body["hours"]) == (201, 4)
    assert await counts(context.engine) == [2, 2, 1]


async def test_an_id_repeated_and_refused_throughout_a_batch_reads_the_caps_once(
    context: ApiContext, cap_reads: list[int]
) -> None:
    """A batch of one external id whose every occurrence the day cap refuses is tried
    item by item, each against the hours read once for the whole job: one hour-cap
    query, however many rounds, and nothing stored."""
    await uploads.upload(context, MACHINE, ITEM | {"hours": 20}, None)
    cap_reads.clear()
    size = context.settings.max_batch_items
    items = [ITEM | {"hours": 5 + i % 5, "external_id": "x"} for i in range(size)]
    before = await counts(context.engine)
    reply = await uploads.upload(context, MACHINE, items, None)
    assert (reply.body["created"], reply.body["rejected"]) == (0, size)
    assert {item["errors"][0]["field"] for item in reply.body["items"]} == {"hours"}
    assert cap_reads == [size]
    assert await counts(context.engine) == before
