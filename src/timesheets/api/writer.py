"""Group commit: concurrent writes share one transaction and one fsync.

Each write is a job run on the writer's connection inside its own savepoint, so a job
that fails (a rule refuses it) is undone alone. Jobs that arrive while a commit is under
way are gathered into the next transaction. A job's caller is answered only after the
commit that holds its write, so an acknowledged write is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from timesheets.db import IMMEDIATE

log = logging.getLogger("timesheets.api.writer")
T = TypeVar("T")
Job = Callable[[AsyncConnection], Awaitable[Any]]


class StoreUnavailable(Exception):
    """The database could not commit: the caller answers 503 and may retry."""


@dataclass
class _Pending:
    job: Job
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitWriter:
    """Runs write jobs in shared transactions on one connection."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 256) -> None:
        self.engine = engine
        self.max_batch = max_batch
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

    async def close(self) -> None:
        """Finish queued work and stop."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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
        try:
            async with self.engine.connect() as connection:
                connection = await connection.execution_options(**{IMMEDIATE: True})
                async with connection.begin():
                    for pending in batch:
                        try:
                            async with connection.begin_nested():
                                results.append((pending, True, await pending.job(connection)))
                        except (OperationalError, DBAPIError):
                            raise
                        except Exception as error:  # a rule refused this job only
                            results.append((pending, False, error))
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
