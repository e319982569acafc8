"""Group commit: concurrent writes share one transaction and one fsync.

Each write is a job run on the writer's connection inside its own savepoint, so a job
that fails (a rule refuses it) is undone alone. Jobs that arrive while a commit is under
way are gathered into the next transaction. A job's caller is answered only after the
commit that holds its write, so an acknowledged write is durable.

Writes of one kind can also be shared (`submit_shared`): the items that arrive together
go to one call of the kind's function, which answers each item on its own. A batch of
single-entry creates then costs a few statements rather than a few per entry.

On a SQLite file, the writers of the service's worker processes take turns through an
advisory file lock (`<database>-writer.lock`) before they begin: a waiting process is
woken by the kernel the moment the other commits, where SQLite's own busy handler would
poll with sleeps of up to 100 ms. Its batch grows while it waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from timesheets.db import IMMEDIATE

log = logging.getLogger("timesheets.api.writer")
T = TypeVar("T")
Job = Callable[[AsyncConnection], Awaitable[Any]]
SharedJob = Callable[[AsyncConnection, list[Any]], Awaitable[list[Any]]]
"""Runs many items at once; returns, for each item, its result or the exception refusing it."""


class StoreUnavailable(Exception):
    """The database could not commit: the caller answers 503 and may retry."""


class WriterTurns:
    """An exclusive advisory lock on a file beside a SQLite database (a no-op otherwise)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> WriterTurns:
        """Turns for this engine's database file, if it is a SQLite file."""
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return cls(None)
        return cls(Path(f"{database}-writer.lock"))

    async def __aenter__(self) -> None:
        if self.path is None:
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fd = self._fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)

    async def __aexit__(self, *_exc: object) -> None:
        if self._fd is not None:
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
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitWriter:
    """Runs write jobs in shared transactions on one connection."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 256) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._turns = WriterTurns.for_engine(engine)
        self.commits = 0
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `job` in the next shared transaction; return its result once committed."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="group-commit-writer")
        pending = _Pending(job)
        await self._queue.put(pending)
        result: T = await pending.future
        return result

    async def submit_shared(self, run: SharedJob, item: Any) -> Any:
        """Have `run` handle `item` with the other items for it in the next transaction."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="group-commit-writer")
        pending = _Pending(None, (run, item))
        await self._queue.put(pending)
        return await pending.future

    async def close(self) -> None:
        """Finish queued work and stop."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._turns.close()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[_Pending]) -> None:
        results: list[tuple[_Pending, bool, Any]] = []
        shared: dict[SharedJob, list[_Pending]] = {}
        for pending in batch:
            if pending.shared is not None:
                shared.setdefault(pending.shared[0], []).append(pending)
        try:
            async with self._turns, self.engine.connect() as connection:
                connection = await connection.execution_options(**{IMMEDIATE: True})
                async with connection.begin():
                    for run, group in shared.items():
                        results += await _run_shared(connection, run, group)
                    for pending in batch:
                        if pending.job is not None:
                            results.append(await _run_job(connection, pending, pending.job))
            self.commits += 1
        except (OperationalError, DBAPIError, OSError) as error:
            log.error("commit failed", extra={"writes": len(batch), "reason": str(error)})
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(StoreUnavailable(str(error)))
            return
        for pending, ok, value in results:
            if pending.future.done():
                continue
            if ok:
                pending.future.set_result(value)
            else:
                pending.future.set_exception(value)


async def _run_job(
    connection: AsyncConnection, pending: _Pending, job: Job
) -> tuple[_Pending, bool, Any]:
    try:
        async with connection.begin_nested():
            return pending, True, await job(connection)
    except (OperationalError, DBAPIError):
        raise
    except Exception as error:  # a rule refused this job only
        return pending, False, error


async def _run_shared(
    connection: AsyncConnection, run: SharedJob, group: list[_Pending]
) -> list[tuple[_Pending, bool, Any]]:
    items = [pending.shared[1] for pending in group if pending.shared is not None]
    try:
        async with connection.begin_nested():
            outcomes = await run(connection, items)
    except (OperationalError, DBAPIError):
        raise
    except Exception as error:  # the whole group was refused
        return [(pending, False, error) for pending in group]
    return [
        (pending, not isinstance(outcome, Exception), outcome)
        for pending, outcome in zip(group, outcomes, strict=True)
    ]
