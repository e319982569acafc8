"""The upload use case under an Idempotency-Key: races with another instance, metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.pg import until_someone_waits_for_a_lock
from timesheets import db
from timesheets.api import idempotency, uploads
from timesheets.api import repository as repo
from timesheets.api.app import MIGRATIONS, create_context
from timesheets.api.context import ApiContext
from timesheets.api.idempotency import Reply
from timesheets.bearer.claims import Principal
from timesheets.settings import ApiSettings

MACHINE = Principal(
    subject="importer@clients",
    client_id="importer",
    scopes=frozenset({"batch:upload"}),
    claims={"gty": "client-credentials"},
)
ITEM = {"user_id": "u1", "project": "P", "date": "2026-03-02", "hours": 2}


@pytest.fixture
async def context(database_url: str, tmp_path: Path) -> AsyncIterator[ApiContext]:
    """An API process's state on a fresh, migrated database."""
    settings = ApiSettings(
        issuer="http://127.0.0.1:9/",
        audience="https://timesheets",
        database_url=database_url,
        data_dir=tmp_path,
    )
    state = create_context(settings)
    await db.upgrade(state.engine, MIGRATIONS)
    yield state
    await state.writer.close()
    await state.http.aclose()
    await state.engine.dispose()


async def counts(engine: AsyncEngine) -> list[int]:
    """Committed entries, audit events and idempotency records."""
    async with engine.connect() as connection:
        return [
            int(await connection.scalar(select(func.count()).select_from(table)) or 0)
            for table in (repo.entries, repo.audit, repo.idempotency)
        ]


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
