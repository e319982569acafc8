"""A change of the tenant from the console: one transaction, attributed to the administrator.

The tenant's rules (admin.py, people.py, keyring.py) record the audit events themselves and
raise the tenant revision, so other processes drop their caches; this process drops its own
as soon as the change is committed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from timesheets.authserver import admin
from timesheets.authserver.console import versions
from timesheets.authserver.console.forms import Form
from timesheets.authserver.console.guard import Admin
from timesheets.authserver.console.views import Problem, done, refused
from timesheets.authserver.runtime import Runtime, runtime_of

T = TypeVar("T")
log = logging.getLogger("timesheets.authserver.console")
Version = Callable[[AsyncSession], Awaitable[str]]


@asynccontextmanager
async def change(runtime: Runtime, who: Admin) -> AsyncIterator[AsyncSession]:
    """A session in a write transaction, committed at the end of the block; a refusal
    (`admin.TenantError`) raised in the block rolls everything back.

    Re-authentication before sensitive actions would be checked here (`who.auth_time`).
    """
    async with runtime.change(who.actor) as session:
        yield session


@asynccontextmanager
async def snapshot(request: Request) -> AsyncIterator[AsyncSession]:
    """A session whose reads all see one state of the database, so that a page shows
    what the version it carries describes: on PostgreSQL a REPEATABLE READ transaction
    (each statement of a READ COMMITTED one sees the latest commits); on SQLite the
    session's one deferred transaction already reads a single snapshot."""
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        if runtime.engine.dialect.name == "postgresql":
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session


async def attempt(
    request: Request,
    who: Admin,
    form: Form,
    form_id: str,
    work: Callable[[AsyncSession], Awaitable[T]],
    fields: Iterable[str] | Mapping[str, str] = (),
    version: Version | None = None,
) -> T | Problem:
    """`work` as one change; if the rules refuse it, the problem to show on form `form_id`
    (next to one of its `fields` when the refusal names one).

    With `version`, the form must carry the current version of what it edits, computed in
    the same transaction as the change, so that of two racing saves only one passes.
    """
    try:
        async with change(runtime_of(request), who) as session:
            if version is not None:
                versions.check(form, await version(session))
            return await work(session)
    except admin.TenantError as error:
        problem = refused(error, form_id, form, fields)
    log.info(
        "console change refused",
        extra={
            "status": problem.status,
            "reason": problem.message,
            "path": request.url.path,
            "actor": who.actor,
        },
    )
    return problem


@dataclass(frozen=True)
class FormPage:
    """A page whose forms make changes: returned to after one (post/redirect/get), or
    shown again with the refusal on the form that was sent. `version` is the current
    version of what its edit forms show."""

    request: Request
    who: Admin
    path: str
    show: Callable[[Problem], Awaitable[Response]]
    version: Version | None = None

    async def submit(
        self,
        form: Form,
        form_id: str,
        work: Callable[[AsyncSession], Awaitable[T]],
        *,
        flash: str | Callable[[T], str],
        fields: Iterable[str] | Mapping[str, str] = (),
        then: str | None = None,
        versioned: bool = False,
    ) -> Response:
        """Make the change (an edit form's only against the version it showed); then this
        page (or `then`) says `flash` (or `flash(result)`)."""
        if versioned and self.version is None:
            raise TypeError(f"{self.path}: a versioned form needs the page's version")
        version = self.version if versioned else None
        outcome = await attempt(self.request, self.who, form, form_id, work, fields, version)
        if isinstance(outcome, Problem):
            return await self.show(outcome)
        text = flash if isinstance(flash, str) else flash(outcome)
        return done(self.request, then or self.path, text)
