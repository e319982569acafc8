"""Group commit on a real SQLite file: shared commits, lone failures, answers after commit."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.pg import PostgresServer
from timesheets import db
from timesheets.api import pg_rows, writer_metrics
from timesheets.api import writer as writer_module
from timesheets.api.writer import (
    DurabilityUnknown,
    GroupCommitWriter,
    OutcomeUnknown,
    StoreUnavailable,
)

metadata = MetaData()
rows = Table("rows", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))


@contextlib.asynccontextmanager
async def table_at(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on `url` with the one table, disposed at the end."""
    engine = db.create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@contextlib.asynccontextmanager
async def writer_on(engine: AsyncEngine) -> AsyncIterator[GroupCommitWriter]:
    """A writer on `engine`, closed at the end."""
    group_writer = GroupCommitWriter(engine)
    yield group_writer
    await group_writer.close()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite file with one table."""
    async with table_at(f"sqlite+aiosqlite:///{tmp_path / 'writer.db'}") as engine:
        yield engine


@pytest.fixture
async def writer(engine: AsyncEngine) -> AsyncIterator[GroupCommitWriter]:
    """A writer on that file, closed at the end."""
    async with writer_on(engine) as group_writer:
        yield group_writer


def insert_row(name: str, *, fail: bool = False) -> Callable[[Connection], int]:
    """A job that inserts a row and returns its id (or raises ValueError after the insert)."""

    def job(connection: Connection) -> int:
        result = connection.execute(insert(rows).values(name=name))
        if fail:
            raise ValueError(f"refused {name}")
        return int(result.inserted_primary_key[0])

    return job


async def committed_names(engine: AsyncEngine) -> list[str]:
    """The names visible to a separate connection, i.e. committed."""
    async with engine.connect() as connection:
        result = await connection.execute(select(rows.c.name).order_by(rows.c.id))
        return list(result.scalars())


def histogram(name: str) -> tuple[float, float]:
    """The count and sum of an unlabelled histogram of this process."""
    return (
        REGISTRY.get_sample_value(f"{name}_count") or 0.0,
        REGISTRY.get_sample_value(f"{name}_sum") or 0.0,
    )


WRITES = "timesheets_api_writes_per_transaction"
SYNCS = "timesheets_api_wal_sync_seconds"


async def test_fifty_concurrent_writes_share_fewer_commits(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    ids = await asyncio.gather(*[writer.submit(insert_row(f"r{i}")) for i in range(50)])
    assert sorted(ids) == list(range(1, 51))
    assert 1 <= writer.commits < 50
    assert sorted(await committed_names(engine)) == sorted(f"r{i}" for i in range(50))


async def test_a_batch_is_capped_at_max_batch(engine: AsyncEngine) -> None:
    capped = GroupCommitWriter(engine, max_batch=5)
    try:
        await asyncio.gather(*[capped.submit(insert_row(f"r{i}")) for i in range(20)])
        assert capped.commits >= 4
    finally:
        await capped.close()
    assert len(await committed_names(engine)) == 20


async def test_a_job_that_raises_fails_alone_and_is_undone(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    jobs = [insert_row(f"r{i}", fail=i == 3) for i in range(8)]
    results = await asyncio.gather(*[writer.submit(job) for job in jobs], return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1
    assert isinstance(results[3], ValueError)
    assert str(results[3]) == "refused r3"
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 3)
    assert writer.commits < len(jobs)
    # The failed job's own insert was rolled back to its savepoint; the others committed.
    assert sorted(await committed_names(engine)) == sorted(f"r{i}" for i in range(8) if i != 3)


async def test_results_are_returned_only_after_the_commit(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    slow_done = threading.Event()

    def slow(connection: Connection) -> str:
        connection.execute(insert(rows).values(name="slow"))
        time.sleep(0.3)
        slow_done.set()
        return "slow"

    def fast(connection: Connection) -> str:
        connection.execute(insert(rows).values(name="fast"))
        return "fast"

    async def first_answer() -> tuple[str, bool, int, list[str]]:
        # The fast job shares the slow job's transaction: it is answered only once that
        # transaction committed, and what it wrote is then visible to everyone.
        result = await writer.submit(fast)
        return result, slow_done.is_set(), writer.commits, await committed_names(engine)

    commits_before = writer.commits
    slow_task = asyncio.create_task(writer.submit(slow))
    fast_result, slow_finished, commits, visible = await first_answer()
    assert fast_result == "fast"
    assert slow_finished
    assert commits == commits_before + 1
    assert sorted(visible) == ["fast", "slow"]
    assert await slow_task == "slow"


async def test_nothing_is_answered_before_the_transaction_ends(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    release = threading.Event()

    def blocked(connection: Connection) -> str:
        connection.execute(insert(rows).values(name="blocked"))
        release.wait(10)
        return "blocked"

    quick_ran = threading.Event()

    def quick(connection: Connection) -> int:
        row_id = insert_row("quick")(connection)
        quick_ran.set()
        return row_id

    quick_task = asyncio.create_task(writer.submit(quick))
    blocked_task = asyncio.create_task(writer.submit(blocked))
    await asyncio.sleep(0.2)
    # The quick job has run, but the transaction it shares is still open: no answer yet,
    # and nobody else sees its row.
    assert quick_ran.is_set()
    assert not quick_task.done()
    assert not blocked_task.done()
    assert writer.commits == 0
    assert await committed_names(engine) == []
    release.set()
    assert await asyncio.wait_for(quick_task, 10) == 1
    assert await asyncio.wait_for(blocked_task, 10) == "blocked"
    assert writer.commits == 1
    assert sorted(await committed_names(engine)) == ["blocked", "quick"]


async def test_a_database_failure_fails_the_whole_batch_and_the_writer_recovers(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    def broken(connection: Connection) -> None:
        connection.execute(text("SELECT * FROM no_such_table"))

    before = histogram(WRITES), histogram(SYNCS)
    results = await asyncio.gather(
        writer.submit(insert_row("a")),
        writer.submit(broken),
        writer.submit(insert_row("b")),
        return_exceptions=True,
    )
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert await committed_names(engine) == []
    assert (histogram(WRITES), histogram(SYNCS)) == before  # no transaction to count
    assert await writer.submit(insert_row("after")) == 1
    assert await committed_names(engine) == ["after"]


def driver_connection(connection: Connection) -> Any:
    """The job's `sqlite3` connection."""
    return connection.connection.driver_connection


async def test_the_writer_keeps_its_connection_until_a_failure(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    """One connection serves batch after batch; a database failure makes a fresh one."""
    first = await writer.submit(driver_connection)
    assert await writer.submit(driver_connection) is first

    def broken(connection: Connection) -> None:
        connection.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(StoreUnavailable):
        await writer.submit(broken)
    fresh = await writer.submit(driver_connection)
    assert fresh is not first
    assert await writer.submit(insert_row("after")) == 1
    assert await committed_names(engine) == ["after"]


async def test_a_lost_unique_key_race_keeps_the_connection(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    """A unique-key conflict rolls its transaction back and leaves the connection sound."""
    first = await writer.submit(driver_connection)
    assert await writer.submit(insert_row("a")) == 1

    def duplicate(connection: Connection) -> None:
        connection.execute(insert(rows).values(id=1, name="again"))

    with pytest.raises(StoreUnavailable):
        await writer.submit(duplicate)
    assert await writer.submit(driver_connection) is first


async def test_close_closes_the_kept_connection(engine: AsyncEngine) -> None:
    """Closing the writer closes its connection, in the writer's thread."""
    writer = GroupCommitWriter(engine)
    kept = await writer.submit(driver_connection)
    await writer.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        kept.execute("SELECT 1")


async def test_close_finishes_queued_work(engine: AsyncEngine) -> None:
    closing = GroupCommitWriter(engine)
    tasks = [asyncio.create_task(closing.submit(insert_row(f"r{i}"))) for i in range(10)]
    await asyncio.sleep(0)
    await closing.close()
    assert all(task.done() for task in tasks)
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(rows)) == 10


def insert_names(connection: Connection, names: list[str]) -> list[object]:
    """A shared job: one insert for every name; a name starting with "!" is refused alone."""
    accepted = [name for name in names if not name.startswith("!")]
    if accepted:
        connection.execute(insert(rows), [{"name": name} for name in accepted])
    return [ValueError(f"refused {name}") if name.startswith("!") else name for name in names]


def refuse_all(connection: Connection, names: list[str]) -> list[object]:
    """A shared job that writes and then refuses its whole group."""
    connection.execute(insert(rows), [{"name": name} for name in names])
    raise LookupError("group refused")


async def test_shared_items_go_to_one_call_and_are_answered_each(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    names = [f"s{i}" for i in range(30)] + ["!bad"]
    results = await asyncio.gather(
        *[writer.submit_shared(insert_names, name) for name in names], return_exceptions=True
    )
    assert results[:30] == [f"s{i}" for i in range(30)]
    assert isinstance(results[30], ValueError)
    assert str(results[30]) == "refused !bad"
    assert writer.commits < len(names)
    assert sorted(await committed_names(engine)) == sorted(f"s{i}" for i in range(30))


async def test_a_refused_shared_group_is_undone_and_other_writes_commit(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    results = await asyncio.gather(
        writer.submit_shared(refuse_all, "g1"),
        writer.submit_shared(refuse_all, "g2"),
        writer.submit(insert_row("alone")),
        return_exceptions=True,
    )
    assert [type(r) for r in results[:2]] == [LookupError, LookupError]
    assert isinstance(results[2], int)
    assert await committed_names(engine) == ["alone"]


async def test_a_batch_that_loses_a_unique_key_race_runs_again_and_then_succeeds(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    attempts = 0

    def first_loses(connection: Connection) -> str:
        nonlocal attempts
        attempts += 1
        connection.execute(insert(rows).values(name=f"try{attempts}"))
        if attempts == 1:  # as if another instance had committed the same key first
            raise IntegrityError("INSERT ...", {}, Exception("duplicate key"))
        return "stored"

    assert await writer.submit(first_loses) == "stored"
    assert attempts == 2
    assert await committed_names(engine) == ["try2"]


async def test_a_batch_that_keeps_conflicting_is_unavailable_and_stores_nothing(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    attempts = 0

    def always_loses(connection: Connection) -> None:
        nonlocal attempts
        attempts += 1
        connection.execute(insert(rows).values(name="never"))
        raise IntegrityError("INSERT ...", {}, Exception("duplicate key"))

    with pytest.raises(StoreUnavailable):
        await writer.submit(always_loses)
    assert attempts == 3
    assert await committed_names(engine) == []


def hold_turn(engine: AsyncEngine) -> int:
    """Take the writers' turn lock of `engine`'s file from outside the writer."""
    descriptor = os.open(f"{engine.url.database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    return descriptor


def give_turn(descriptor: int) -> None:
    """Release a turn taken with `hold_turn` (again harmlessly)."""
    with contextlib.suppress(OSError):
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


async def test_writes_that_arrive_while_waiting_for_the_turn_join_its_transaction(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    commits, writes = histogram(WRITES)
    held = hold_turn(engine)
    try:
        first = asyncio.create_task(writer.submit(insert_row("first")))
        await asyncio.sleep(0.2)  # the writer's thread now waits for the turn with one write
        later = [asyncio.create_task(writer.submit(insert_row(f"later{i}"))) for i in range(5)]
        await asyncio.sleep(0.05)
        assert not first.done()
    finally:
        give_turn(held)
    assert sorted(await asyncio.gather(first, *later)) == [1, 2, 3, 4, 5, 6]
    assert writer.commits == 1
    assert histogram(WRITES) == (commits + 1, writes + 6)  # the writes taken in count


async def test_a_failure_answers_the_writes_taken_in_while_waiting(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    def broken(connection: Connection) -> None:
        connection.execute(text("SELECT * FROM no_such_table"))

    held = hold_turn(engine)
    try:
        first = asyncio.create_task(writer.submit(insert_row("first")))
        await asyncio.sleep(0.2)
        later = [asyncio.create_task(writer.submit(job)) for job in (broken, insert_row("b"))]
        await asyncio.sleep(0.05)
    finally:
        give_turn(held)
    results = await asyncio.wait_for(asyncio.gather(first, *later, return_exceptions=True), 10)
    assert all(isinstance(result, StoreUnavailable) for result in results)
    assert await committed_names(engine) == []


def spy_batches(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """Record each batch the writer runs (its pending writes, futures included)."""
    batches: list[list[Any]] = []
    transaction = writer_module._transaction

    def spy(connection: Connection, batch: list[Any]) -> Any:
        batches.append(batch)
        return transaction(connection, batch)

    monkeypatch.setattr(writer_module, "_transaction", spy)
    return batches


async def test_on_a_full_file_the_wal_is_synced_after_the_turn_and_before_any_answer(
    engine: AsyncEngine, writer: GroupCommitWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = spy_batches(monkeypatch)
    seen: list[tuple[int, list[bool], int]] = []
    sync = writer_module.sync_file

    def spy(descriptor: int) -> None:
        probe = os.open(f"{engine.url.database}-writer.lock", os.O_RDWR)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while the turn is held
            fcntl.flock(probe, fcntl.LOCK_UN)
        finally:
            os.close(probe)
        sync(descriptor)
        answered = [pending.future.done() for batch in batches for pending in batch]
        seen.append((os.fstat(descriptor).st_ino, answered, os.fstat(descriptor).st_size))

    monkeypatch.setattr(writer_module, "sync_file", spy)
    results = await asyncio.gather(*[writer.submit(insert_row(f"d{i}")) for i in range(3)])
    assert sorted(results) == [1, 2, 3]
    assert seen
    for inode, answered, wal_size in seen:
        assert inode == os.stat(f"{engine.url.database}-wal").st_ino
        assert answered
        assert not any(answered)
        assert wal_size > 0
    assert writer_level(writer) == 1  # NORMAL: the WAL sync is the writer's own


async def test_each_transaction_reports_its_writes_and_its_wal_sync(
    writer: GroupCommitWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = writer_module.sync_file

    def slow(descriptor: int) -> None:
        time.sleep(0.005)
        sync(descriptor)

    monkeypatch.setattr(writer_module, "sync_file", slow)
    (transactions, writes), (syncs, synced) = histogram(WRITES), histogram(SYNCS)
    await asyncio.gather(*[writer.submit(insert_row(f"m{i}")) for i in range(20)])
    with pytest.raises(ValueError, match="refused"):  # a transaction of a refused write
        await writer.submit(insert_row("refused", fail=True))
    assert histogram(WRITES) == (transactions + writer.commits, writes + 21)
    sync_count, sync_seconds = histogram(SYNCS)
    assert sync_count == syncs + writer.commits
    assert sync_seconds - synced >= 0.005 * writer.commits


async def test_a_metric_that_cannot_be_recorded_is_logged_and_fails_no_write(
    engine: AsyncEngine,
    writer: GroupCommitWriter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(amount: float) -> None:
        raise OSError("no space left on the metrics device")

    monkeypatch.setattr(writer_metrics.WRITES_PER_TRANSACTION, "observe", broken)
    assert await writer.submit(insert_row("kept")) == 1
    assert await writer.submit(insert_row("and the next")) == 2
    assert await committed_names(engine) == ["kept", "and the next"]
    failures = [r for r in caplog.records if r.name == "timesheets.api.writer"]
    assert [r.getMessage() for r in failures] == ["the writer's metrics could not be recorded"] * 2


async def test_the_wal_synced_is_sqlites_own_behind_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "linked.db").symlink_to(tmp_path / "real" / "linked.db")
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'link' / 'linked.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    synced: list[int] = []
    sync = writer_module.sync_file

    def spy(descriptor: int) -> None:
        sync(descriptor)
        synced.append(os.fstat(descriptor).st_ino)

    monkeypatch.setattr(writer_module, "sync_file", spy)
    linked = GroupCommitWriter(engine)
    try:
        assert await linked.submit(insert_row("behind a link")) == 1
        real_wal = os.stat(tmp_path / "real" / "linked.db-wal").st_ino
    finally:
        await linked.close()
        await engine.dispose()
    assert synced == [real_wal]


async def test_on_a_file_kept_normal_the_writer_syncs_nothing_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'normal.db'}", synchronous="NORMAL")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    synced: list[int] = []
    monkeypatch.setattr(writer_module, "sync_file", synced.append)
    syncs = histogram(SYNCS)
    normal = GroupCommitWriter(engine)
    try:
        assert await normal.submit(insert_row("fast")) == 1
        assert writer_level(normal) == 1
    finally:
        await normal.close()
        await engine.dispose()
    assert synced == []
    assert histogram(SYNCS) == syncs


def test_a_connection_not_in_wal_mode_keeps_full(tmp_path: Path, engine: AsyncEngine) -> None:
    writer = GroupCommitWriter(engine)
    raw = sqlite3.connect(tmp_path / "rollback.db")
    try:
        raw.execute("PRAGMA journal_mode=DELETE")
        raw.execute("PRAGMA synchronous=FULL")
        writer._sync_wal_ourselves(raw, None)
        assert raw.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert writer._wal is None
    finally:
        raw.close()


async def test_a_failed_sync_says_durability_is_unknown_and_stops_taking_writes(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(descriptor: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(writer_module, "sync_file", failing)
    stops: list[bool] = []
    writer = GroupCommitWriter(engine, on_fatal=lambda: stops.append(True))
    try:
        with pytest.raises(DurabilityUnknown, match="Input/output error"):
            await writer.submit(insert_row("committed, not synced"))
        assert stops == [True]
        # Committed and visible: a caller told "retry" would store it twice.
        assert await committed_names(engine) == ["committed, not synced"]
        with pytest.raises(StoreUnavailable):
            await writer.submit(insert_row("after"))
    finally:
        await writer.close()
    assert await committed_names(engine) == ["committed, not synced"]


async def test_a_job_with_a_bug_fails_its_batch_and_the_writer_goes_on(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    def wrong_count(connection: Connection, names: list[str]) -> list[object]:
        connection.execute(insert(rows), [{"name": name} for name in names])
        return []

    with pytest.raises(ValueError, match="zip"):
        await asyncio.wait_for(writer.submit_shared(wrong_count, "lost"), 10)
    assert await committed_names(engine) == []
    assert await asyncio.wait_for(writer.submit(insert_row("after")), 10) == 1
    await asyncio.wait_for(writer.close(), 10)


async def test_close_returns_when_the_writer_task_died(engine: AsyncEngine) -> None:
    dying = GroupCommitWriter(engine)

    async def crash(batch: list[Any]) -> None:
        raise RuntimeError("writer bug")

    dying._commit = crash  # type: ignore[method-assign]
    pending = asyncio.create_task(dying.submit(insert_row("never")))
    await asyncio.sleep(0.05)
    with pytest.raises(RuntimeError, match="writer bug"):
        await asyncio.wait_for(dying.close(), 10)
    pending.cancel()


def writer_level(writer: GroupCommitWriter) -> int:
    """The `synchronous` level of the writer's own SQLite connection."""
    assert writer._sqlite is not None
    with writer._sqlite.connect() as connection:
        return int(connection.exec_driver_sql("PRAGMA synchronous").scalar_one())


def test_sync_file_reports_a_descriptor_it_cannot_sync(tmp_path: Path) -> None:
    kept = tmp_path / "kept.db-wal"
    kept.write_bytes(b"frames")
    descriptor = os.open(kept, os.O_RDONLY)
    writer_module.sync_file(descriptor)
    os.close(descriptor)
    with pytest.raises(OSError, match="Bad file descriptor"):
        writer_module.sync_file(descriptor)


async def test_the_wal_descriptor_is_closed_with_the_writer(engine: AsyncEngine) -> None:
    closing = GroupCommitWriter(engine)
    assert await closing.submit(insert_row("one")) == 1
    assert closing._wal is not None
    descriptor = closing._wal[1]
    os.fstat(descriptor)
    await closing.close()
    assert closing._wal is None
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(descriptor)


# On PostgreSQL: shared items answered by their one-statement form (`direct`).


@pytest.fixture
async def pg_engine(pg_server: PostgresServer) -> AsyncIterator[AsyncEngine]:
    """A fresh PostgreSQL database with the one table."""
    async with table_at(pg_server.new_database()) as engine:
        yield engine


@pytest.fixture
async def pg_writer(pg_engine: AsyncEngine) -> AsyncIterator[GroupCommitWriter]:
    """A writer on that database, closed at the end."""
    async with writer_on(pg_engine) as group_writer:
        yield group_writer


class Direct:
    """A `direct` form that records its calls (the items, whether it got asyncpg's
    connection and whether that was in a transaction) and stores each item as a row by
    itself, then answers "direct <item>"; or declines (None) when told to."""

    def __init__(self, *, declines: bool = False) -> None:
        self.declines = declines
        self.calls: list[tuple[list[str], bool, bool]] = []

    async def __call__(self, raw: Any, names: list[str]) -> list[object] | None:
        in_transaction = isinstance(raw, asyncpg.Connection) and raw.is_in_transaction()
        self.calls.append((names, isinstance(raw, asyncpg.Connection), in_transaction))
        if self.declines:
            return None
        await raw.executemany("INSERT INTO rows (name) VALUES ($1)", [(name,) for name in names])
        return [f"direct {name}" for name in names]


class Run:
    """A shared job (`insert_names`) that records its calls and whether each ran in a
    transaction."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], bool]] = []

    def __call__(self, connection: Connection, names: list[str]) -> list[object]:
        self.calls.append((names, connection.in_transaction()))
        return insert_names(connection, names)


async def test_shared_items_are_answered_by_their_direct_form_and_never_run(
    pg_engine: AsyncEngine, pg_writer: GroupCommitWriter
) -> None:
    """`direct` gets the items in order and the driver's connection outside a transaction."""
    # The kept connection has committed a transaction and rolled another back.
    assert await pg_writer.submit(insert_row("before")) == 1
    with pytest.raises(ValueError, match="refused"):
        await pg_writer.submit(insert_row("refused", fail=True))
    run, direct = Run(), Direct()
    names = [f"s{i}" for i in range(6)]
    commits, writes = histogram(WRITES)
    results = await asyncio.gather(
        *[pg_writer.submit_shared(run, name, direct=direct) for name in names]
    )
    assert results == [f"direct {name}" for name in names]
    assert direct.calls == [(names, True, False)]
    assert histogram(WRITES) == (commits + 1, writes + 6)  # one statement, six writes
    assert run.calls == []
    assert await committed_names(pg_engine) == ["before", *names]


async def test_when_the_direct_form_declines_the_shared_job_runs_in_a_transaction(
    pg_engine: AsyncEngine, pg_writer: GroupCommitWriter
) -> None:
    """None from `direct` hands the same items to `run`, whose writes commit."""
    run, direct = Run(), Direct(declines=True)
    names = [f"s{i}" for i in range(6)]
    results = await asyncio.gather(
        *[pg_writer.submit_shared(run, name, direct=direct) for name in names]
    )
    assert results == names
    assert direct.calls == [(names, True, False)]
    assert run.calls == [(names, True)]
    assert await committed_names(pg_engine) == names


def insert_more_names(connection: Connection, names: list[str]) -> list[object]:
    """Another shared job, doing the same as `insert_names`."""
    return insert_names(connection, names)


@pytest.mark.parametrize(
    "other",
    [
        lambda writer, direct: writer.submit(insert_row("b")),
        lambda writer, direct: writer.submit_shared(insert_names, "b"),
        lambda writer, direct: writer.submit_shared(insert_names, "b", direct=Direct()),
        lambda writer, direct: writer.submit_shared(insert_more_names, "b", direct=direct),
    ],
    ids=["a plain job", "no direct form", "another direct form", "another shared job"],
)
async def test_a_batch_holding_another_kind_of_write_never_takes_the_direct_form(
    pg_engine: AsyncEngine,
    pg_writer: GroupCommitWriter,
    monkeypatch: pytest.MonkeyPatch,
    other: Callable[[GroupCommitWriter, Direct], Any],
) -> None:
    """Both writes share one transaction; `direct` is not called, first in the batch or not."""
    batches = spy_batches(monkeypatch)
    direct = Direct()
    first = pg_writer.submit_shared(insert_names, "a", direct=direct)
    results = await asyncio.gather(first, other(pg_writer, direct))
    assert results[0] == "a"
    assert results[1] in ("b", 2)
    assert direct.calls == []
    assert [len(batch) for batch in batches] == [2]
    assert sorted(await committed_names(pg_engine)) == ["a", "b"]


async def test_a_connection_lost_in_the_direct_form_fails_its_writes_and_the_next_gets_a_fresh_one(
    pg_engine: AsyncEngine, pg_writer: GroupCommitWriter
) -> None:
    """A loss the direct form reports as OperationalError is StoreUnavailable; the dead
    connection is not kept for the next batch."""
    pids: list[int] = []

    async def dies_first(raw: asyncpg.Connection, names: list[str]) -> list[Any]:
        pids.append(raw.get_server_pid())
        if len(pids) == 1:
            with pg_rows._as_sqlalchemy_errors("SELECT pg_terminate_backend", []):
                await raw.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        await raw.executemany("INSERT INTO rows (name) VALUES ($1)", [(name,) for name in names])
        return names

    assert await pg_writer.submit(insert_row("before")) == 1  # a connection is kept, in use
    lost = await asyncio.gather(
        pg_writer.submit_shared(insert_names, "lost", direct=dies_first),
        pg_writer.submit_shared(insert_names, "lost too", direct=dies_first),
        return_exceptions=True,
    )
    assert [type(result) for result in lost] == [StoreUnavailable, StoreUnavailable]
    assert await pg_writer.submit_shared(insert_names, "after", direct=dies_first) == "after"
    assert len(pids) == 2
    assert pids[1] != pids[0]
    assert await committed_names(pg_engine) == ["before", "after"]


async def test_an_unknown_outcome_fails_its_writes_as_such_and_drops_the_connection(
    pg_engine: AsyncEngine, pg_writer: GroupCommitWriter
) -> None:
    """OutcomeUnknown from the direct form reaches each caller unchanged (not a retry)."""
    pids: list[int] = []

    async def unknown_first(raw: asyncpg.Connection, names: list[str]) -> list[Any]:
        pids.append(raw.get_server_pid())
        if len(pids) == 1:
            raise OutcomeUnknown("connection was closed in the middle of operation")
        return names

    assert await pg_writer.submit(insert_row("before")) == 1  # a connection is kept, in use
    with pytest.raises(OutcomeUnknown):
        await pg_writer.submit_shared(insert_names, "unknown", direct=unknown_first)
    assert await pg_writer.submit_shared(insert_names, "after", direct=unknown_first) == "after"
    assert pids[1] != pids[0]


async def test_a_failing_direct_form_releases_its_connection_as_broken(
    pg_engine: AsyncEngine, pg_writer: GroupCommitWriter
) -> None:
    """After any error but a unique-key race the connection is dropped, not pooled again."""
    pids: list[int] = []

    async def fails_first(raw: asyncpg.Connection, names: list[str]) -> list[Any]:
        pids.append(raw.get_server_pid())
        if len(pids) == 1:
            with pg_rows._as_sqlalchemy_errors("SELECT * FROM no_such_table", []):
                await raw.execute("SELECT * FROM no_such_table")
        return names

    assert await pg_writer.submit(insert_row("before")) == 1  # a connection is kept, in use
    with pytest.raises(StoreUnavailable, match="no_such_table"):
        await pg_writer.submit_shared(insert_names, "refused", direct=fails_first)
    assert await pg_writer.submit_shared(insert_names, "after", direct=fails_first) == "after"
    assert pids[1] != pids[0]
    async with pg_engine.connect() as connection:
        alive = await connection.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pids[0]}
        )
    assert alive == 0


async def test_an_exception_among_the_direct_forms_answers_refuses_that_item_only(
    pg_writer: GroupCommitWriter,
) -> None:
    """The other items of the batch get their answers."""
    run = Run()

    async def refuses_marked(raw: asyncpg.Connection, names: list[str]) -> list[object]:
        return [ValueError(f"refused {n}") if n.startswith("!") else n for n in names]

    tasks = [
        asyncio.create_task(pg_writer.submit_shared(run, name, direct=refuses_marked))
        for name in ("a", "!b", "c")
    ]
    await asyncio.wait(tasks)
    assert tasks[0].result() == "a"
    with pytest.raises(ValueError, match=r"refused !b"):
        tasks[1].result()  # raised to its caller, not answered
    assert tasks[2].result() == "c"
    assert run.calls == []


async def test_on_a_sqlite_file_the_direct_form_is_never_taken(
    engine: AsyncEngine, writer: GroupCommitWriter
) -> None:
    """The shared job runs in the writer's transaction, as before."""
    direct = Direct()
    names = [f"s{i}" for i in range(6)]
    results = await asyncio.gather(
        *[writer.submit_shared(insert_names, name, direct=direct) for name in names]
    )
    assert results == names
    assert direct.calls == []
    assert await committed_names(engine) == names


def echo(connection: Connection, names: list[str]) -> list[object]:
    """A shared job that needs no table (an in-memory database starts empty)."""
    connection.execute(text("SELECT 1"))
    return list(names)


async def test_on_sqlite_in_memory_the_direct_form_is_never_taken() -> None:
    """There the writer runs on the async engine, as on PostgreSQL, but has no `direct`."""
    engine = db.create_engine("sqlite+aiosqlite:///:memory:")
    memory = GroupCommitWriter(engine)
    calls: list[list[str]] = []

    async def direct(raw: Any, names: list[str]) -> list[object]:
        calls.append(names)
        return [f"direct {name}" for name in names]

    try:
        results = await asyncio.gather(
            *[memory.submit_shared(echo, name, direct=direct) for name in ("a", "b")]
        )
    finally:
        await memory.close()
        await engine.dispose()
    assert results == ["a", "b"]
    assert calls == []
