"""Group commit: concurrent writes share one transaction and one fsync.

Each write is a job, a plain function of a SQLAlchemy `Connection`, run inside its own
savepoint, so a job that fails (a rule refuses it) is undone alone. Jobs that arrive
while a commit is under way are gathered into the next transaction. A job's caller is
answered only after the commit that holds its write, so an acknowledged write is durable.

Writes of one kind can also be shared (`submit_shared`): the items that arrive together
go to one call of the kind's function, which answers each item on its own. A batch of
single-entry creates then costs a few statements rather than a few per entry.

The whole transaction runs without coming back to the event loop between statements:
on a SQLite file in one dedicated thread with its own synchronous connection (an async
driver would hand every statement to a thread and wait for a turn of the busy loop to
resume); on PostgreSQL through the async engine's `run_sync`. The writers of the
service's worker processes take turns on a SQLite file through an advisory file lock
(`<database>-writer.lock`): a waiting process is woken by the kernel the moment the
other commits, where SQLite's busy handler polls with sleeps of up to 100 ms. A writer
that had to wait for its turn takes, once it has it, the writes that arrived meanwhile
into the same transaction.

On a SQLite file in WAL mode kept with `synchronous=FULL` (the default), the writer's
connection commits with `synchronous=NORMAL` and syncs the WAL file itself once it has
given up its turn, before it answers anyone. The WAL is then synced before every
acknowledgement, as FULL would, but the other process's transaction no longer waits for
this one's sync, and one sync can cover both processes' commits. In WAL mode NORMAL
keeps the database consistent and syncs the WAL before each checkpoint and its header
when the WAL is reused (SQLite's documentation of `PRAGMA synchronous`); a committed
transaction it leaves unsynced can only be lost to a power cut or a crash of the
operating system, and no caller has been answered for it then. Readers may see such a
transaction while its sync runs. The WAL's name is SQLite's own (`PRAGMA
database_list`, which resolves links); a connection that is not in WAL mode keeps FULL.
A sync that fails leaves committed writes of unknown durability: their callers are told
so (`DurabilityUnknown`, never "retry"), later writes are refused, and the process is
asked to stop (`on_fatal`), as PostgreSQL stops on a failed WAL flush.

On PostgreSQL every statement is a round trip to another process, so the writer spends
as few as it can: it keeps its connection from one transaction to the next while writes
keep coming (the pool's liveness ping is paid again only after `IDLE_RECHECK_SECONDS`
without a write, or after an error), and a transaction holding a single job or a single
group of shared items runs it without a savepoint (a refusal then rolls the whole
transaction back, which holds nothing else). A batch made only of shared items of one
kind with a one-statement form (`direct`: new entries that fit the hour caps) is first
offered to that form, a single statement that is its own transaction: one round trip
where the transaction spends five. The form answers None, having stored nothing, when
it cannot take the batch whole, and the transaction then runs as above. Its statements
keep PostgreSQL's default plan cache: the hour-cap sums look up the person-week index
whatever the values, so the generic plan it settles on is the right one
(`tests/api/test_repository_plans.py`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from timesheets.api.writer_metrics import WAL_SYNC, WRITES_PER_TRANSACTION
from timesheets.db import IMMEDIATE, create_sync_sqlite_engine

log = logging.getLogger("timesheets.api.writer")
RETRIES_AFTER_CONFLICT = 2
IDLE_RECHECK_SECONDS = 1.0
FULL = 2  # the `synchronous` level that syncs on every commit
T = TypeVar("T")
Job = Callable[[Connection], Any]
SharedJob = Callable[[Connection, list[Any]], list[Any]]
"""Runs many items at once; returns, for each item, its result or the exception refusing it."""
DirectJob = Callable[[Any, list[Any]], Awaitable[list[Any] | None]]
"""A shared job's one-statement form on PostgreSQL: given the driver's connection outside
any transaction, stores every item in a statement that commits by itself and returns
their results, or returns None having stored nothing (the shared job then runs)."""


class StoreUnavailable(Exception):
    """The database could not commit: the caller answers 503 and may retry."""


class DurabilityUnknown(Exception):
    """The write committed but the WAL could not be synced: it is visible, and may not
    survive a power cut. The caller must not simply retry (it would store it twice)."""


class OutcomeUnknown(Exception):
    """The connection went while a statement that commits by itself ran (a direct
    form raises it): the server may have committed it. The caller must look before
    retrying; the writer drops the connection."""


def stop_this_process() -> None:
    """Ask this process to shut down (its supervisor starts a fresh one)."""
    os.kill(os.getpid(), signal.SIGTERM)


class WriterTurns:
    """An exclusive advisory lock on a file beside a SQLite database (a no-op otherwise)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the lock (blocking this thread until it is free)."""
        if self.path is None:
            yield
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class _Pending:
    job: Job | None
    shared: tuple[SharedJob, Any] | None = None
    direct: DirectJob | None = None
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


Outcome = tuple[_Pending, bool, Any]


class GroupCommitWriter:
    """Runs write jobs in shared transactions."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 256,
        on_fatal: Callable[[], None] = stop_this_process,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.on_fatal = on_fatal
        self._fatal: DurabilityUnknown | None = None
        self.commits = 0
        # A deque rather than an asyncio.Queue: the SQLite writer's thread takes from it
        # too, once it has its turn (append and popleft are atomic).
        self._inbox: collections.deque[_Pending] = collections.deque()
        self._arrived = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._task: asyncio.Task[None] | None = None
        self._sqlite: Engine | None = None
        # The writer thread's connection, kept from one transaction to the next: taking
        # one from the pool and giving it back costs about 20 µs a commit, inside the turn.
        self._held_sqlite: Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._turns = WriterTurns(None)
        # SQLite's WAL file, held open from the writer connection's start so that its
        # sync reports every write-back error since (a descriptor opened later would not
        # see one another process has already been told of); set in the writer's thread.
        self._wal: tuple[Path, int] | None = None
        self._connection: AsyncConnection | None = None  # kept between transactions
        # The last turn's WAL sync, in seconds (set in the writer's thread, read once the
        # turn is awaited).
        self._synced: float | None = None
        self._last_used = 0.0
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database and database != ":memory:":
            self._sqlite = create_sync_sqlite_engine(engine)
            event.listen(self._sqlite, "connect", self._sync_wal_ourselves)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="group-commit")
            self._turns = WriterTurns(Path(f"{database}-writer.lock"))

    async def submit(self, job: Callable[[Connection], T]) -> T:
        """Run `job` in the next shared transaction; return its result once committed."""
        result: T = await self._enqueue(_Pending(job))
        return result

    async def submit_shared(
        self, run: SharedJob, item: Any, *, direct: DirectJob | None = None
    ) -> Any:
        """Have `run` handle `item` with the other items for it in the next transaction.
        On PostgreSQL, a commit holding only such items tries `direct` first."""
        return await self._enqueue(_Pending(None, (run, item), direct))

    async def _enqueue(self, pending: _Pending) -> Any:
        if self._fatal is not None:
            raise StoreUnavailable("the store stopped taking writes after a failed sync")
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="group-commit-writer")
        self._inbox.append(pending)
        self._drained.clear()
        self._arrived.set()
        return await pending.future

    async def close(self) -> None:
        """Finish queued work and stop."""
        if self._task is not None:
            drained = asyncio.create_task(self._drained.wait())
            # A writer task that died (a bug) never drains: its error is not hidden here.
            await asyncio.wait({drained, self._task}, return_when=asyncio.FIRST_COMPLETED)
            drained.cancel()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._thread is not None:
            with contextlib.suppress(RuntimeError):  # the thread is gone: closed already
                await asyncio.get_running_loop().run_in_executor(self._thread, self._drop_sqlite)
            self._thread.shutdown(wait=True)
        if self._sqlite is not None:
            self._sqlite.dispose()
        self._forget_wal()
        self._turns.close()
        await self._release()

    async def _run(self) -> None:
        while True:
            while not self._inbox:
                self._drained.set()
                self._arrived.clear()
                await self._arrived.wait()
            await self._commit(self._take([]))

    def _take(self, batch: list[_Pending]) -> list[_Pending]:
        """Move waiting writes into `batch`, up to `max_batch` (from either thread)."""
        while len(batch) < self.max_batch:
            try:
                batch.append(self._inbox.popleft())
            except IndexError:
                break
        return batch

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            self._synced = None
            results = await self._transact_with_retry(batch)
            self.commits += 1
        except DurabilityUnknown as error:
            log.critical("the WAL could not be synced", extra={"writes": len(batch)})
            self._fatal = error
            _fail(batch, error)
            self.on_fatal()
            return
        except OutcomeUnknown as error:
            log.error(
                "connection lost during a one-statement commit; it may have committed",
                extra={"writes": len(batch), "reason": str(error)},
            )
            _fail(batch, error)
            return
        except (OperationalError, DBAPIError, OSError) as error:
            log.error("commit failed", extra={"writes": len(batch), "reason": str(error)})
            _fail(batch, StoreUnavailable(str(error)))
            return
        except Exception as error:  # a bug in a job: its batch fails, the writer goes on
            log.exception("write batch failed", extra={"writes": len(batch)})
            _fail(batch, error)
            return
        for pending, ok, value in results:
            if pending.future.done():
                continue
            if ok:
                pending.future.set_result(value)
            else:
                pending.future.set_exception(value)
        self._observe(len(batch))

    def _observe(self, writes: int) -> None:
        """Record a transaction's metrics, once its callers have their answers: a metric
        that cannot be written is logged and never fails a write that is stored."""
        try:
            WRITES_PER_TRANSACTION.observe(writes)
            if self._synced is not None:
                WAL_SYNC.observe(self._synced)
        except Exception:
            log.exception("the writer's metrics could not be recorded")

    async def _transact_with_retry(self, batch: list[_Pending]) -> list[Outcome]:
        """Run the batch; when another instance committed the same unique key first
        (an Idempotency-Key, an external id), run it again: it now finds that row."""
        for attempt in range(1, RETRIES_AFTER_CONFLICT + 2):
            try:
                return await self._transact(batch)
            except IntegrityError as error:
                if attempt > RETRIES_AFTER_CONFLICT:
                    raise
                log.info(
                    "a concurrent commit took a unique key first; running the batch again",
                    extra={"writes": len(batch), "attempt": attempt, "reason": str(error)},
                )
        raise AssertionError("unreachable")

    async def _transact(self, batch: list[_Pending]) -> list[Outcome]:
        if self._sqlite is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, self._on_sqlite, batch)
        connection = await self._held_connection()
        direct = _direct_of(batch) if self.engine.dialect.name == "postgresql" else None
        try:
            if direct is not None:
                raw = (await connection.get_raw_connection()).driver_connection
                items = [pending.shared[1] for pending in batch if pending.shared is not None]
                answers = await direct(raw, items)
                if answers is not None:
                    self._last_used = time.monotonic()
                    return [
                        (pending, not isinstance(answer, Exception), answer)
                        for pending, answer in zip(batch, answers, strict=True)
                    ]
            results: list[Outcome] = await connection.run_sync(_transaction, batch)
        except IntegrityError:
            raise  # rolled back; the connection is sound
        except BaseException:
            await self._release(broken=True)  # or in a state unknown: a fresh one next time
            raise
        self._last_used = time.monotonic()
        return results

    async def _held_connection(self) -> AsyncConnection:
        """The connection kept from the last transaction, or a fresh one from the pool
        (checked by its liveness ping) when there is none or it has been idle a while."""
        if (
            self._connection is not None
            and time.monotonic() - self._last_used > IDLE_RECHECK_SECONDS
        ):
            await self._release()
        if self._connection is None:
            self._connection = await self.engine.connect()
        return self._connection

    async def _release(self, *, broken: bool = False) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(Exception):
            if broken:
                await connection.invalidate()  # never back into the pool
            await connection.close()

    def _on_sqlite(self, batch: list[_Pending]) -> list[Outcome]:
        """The batch's transaction, in the writer's thread. `batch` grows in place by
        the writes that arrived while this process waited for its turn, so that the
        caller answers them too, whatever the outcome."""
        assert self._sqlite is not None
        with self._turns.turn():
            self._take(batch)
            connection = self._held_sqlite
            if connection is None:
                connection = self._sqlite.connect().execution_options(**{IMMEDIATE: True})
                self._held_sqlite = connection
            try:
                outcomes = _transaction(connection, batch)
            except IntegrityError:
                raise  # rolled back; the connection is sound
            except BaseException:
                self._drop_sqlite(broken=True)  # or in a state unknown: a fresh one next time
                raise
        if self._wal is not None:
            path, descriptor = self._wal
            started = time.perf_counter()
            try:
                sync_file(descriptor)
            except OSError as error:
                raise DurabilityUnknown(f"syncing {path} failed: {error}") from error
            self._synced = time.perf_counter() - started
        return outcomes

    def _drop_sqlite(self, *, broken: bool = False) -> None:
        """Close the writer thread's connection (in that thread); a broken one is
        discarded rather than pooled again."""
        connection, self._held_sqlite = self._held_sqlite, None
        if connection is not None:
            with contextlib.suppress(Exception):
                if broken:
                    connection.invalidate()
                connection.close()

    def _sync_wal_ourselves(self, dbapi_connection: Any, _record: Any) -> None:
        """On each new writer connection: in WAL mode at FULL, commit at NORMAL and
        sync SQLite's own WAL file after each commit; otherwise keep the level as it is."""
        cursor = dbapi_connection.cursor()
        try:
            mode = str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            level = int(cursor.execute("PRAGMA synchronous").fetchone()[0])
            files = {row[1]: row[2] for row in cursor.execute("PRAGMA database_list")}
            self._forget_wal()
            if mode == "wal" and level == FULL and files.get("main"):
                path = Path(f"{files['main']}-wal")
                self._wal = (path, os.open(path, os.O_RDONLY))
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    def _forget_wal(self) -> None:
        wal, self._wal = self._wal, None
        if wal is not None:
            os.close(wal[1])


def sync_file(descriptor: int) -> None:
    """fdatasync(2), as SQLite syncs its WAL: it flushes the file itself, whichever
    descriptor wrote (the writer's open connection keeps its WAL in place)."""
    os.fdatasync(descriptor)


def _direct_of(batch: list[_Pending]) -> DirectJob | None:
    """The one-statement form shared by every write of the batch, if they have one."""
    direct = batch[0].direct
    if direct is None or batch[0].shared is None:
        return None
    run = batch[0].shared[0]
    for pending in batch:
        if pending.direct is not direct or pending.shared is None or pending.shared[0] is not run:
            return None
    return direct


def _fail(batch: list[_Pending], error: Exception) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(error)


class _Refused(Exception):
    """The transaction's only unit was refused: roll it all back, answer these."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        super().__init__("refused")
        self.outcomes = outcomes


def _transaction(connection: Connection, batch: list[_Pending]) -> list[Outcome]:
    """Run the batch in one transaction: shared groups first, then each job alone.

    Each unit (a job, or a group of shared items) runs in a savepoint, so a refused one
    is undone alone; a transaction of one unit needs none.
    """
    shared: dict[SharedJob, list[_Pending]] = {}
    jobs = 0
    for pending in batch:
        if pending.shared is not None:
            shared.setdefault(pending.shared[0], []).append(pending)
        elif pending.job is not None:
            jobs += 1
    alone = len(shared) + jobs == 1
    results: list[Outcome] = []
    try:
        with connection.begin():
            for run, group in shared.items():
                results += _run_shared(connection, run, group, alone)
            for pending in batch:
                if pending.job is not None:
                    results.append(_run_job(connection, pending, pending.job, alone))
    except _Refused as refused:
        return refused.outcomes
    return results


def _unit(connection: Connection, alone: bool) -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext() if alone else connection.begin_nested()


def _run_job(connection: Connection, pending: _Pending, job: Job, alone: bool) -> Outcome:
    try:
        with _unit(connection, alone):
            return pending, True, job(connection)
    except (OperationalError, DBAPIError):
        raise
    except Exception as error:  # a rule refused this job only
        if alone:
            raise _Refused([(pending, False, error)]) from error
        return pending, False, error


def _run_shared(
    connection: Connection, run: SharedJob, group: list[_Pending], alone: bool
) -> list[Outcome]:
    items = [pending.shared[1] for pending in group if pending.shared is not None]
    try:
        with _unit(connection, alone):
            outcomes = run(connection, items)
    except (OperationalError, DBAPIError):
        raise
    except Exception as error:  # the whole group was refused
        refused: list[Outcome] = [(pending, False, error) for pending in group]
        if alone:
            raise _Refused(refused) from error
        return refused
    return [
        (pending, not isinstance(outcome, Exception), outcome)
        for pending, outcome in zip(group, outcomes, strict=True)
    ]
