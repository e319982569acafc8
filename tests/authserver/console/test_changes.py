"""The console's page reads and changes: one state of the database per page."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select, update
from starlette.requests import Request

from tests.authserver.conftest import AUDIENCE, Tenant
from timesheets.authserver.console.changes import FormPage, snapshot
from timesheets.authserver.models import ResourceServer


def _request(tenant: Tenant) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(runtime=tenant.runtime))
    return Request({"type": "http", "app": app, "method": "GET", "path": "/", "headers": []})


async def test_a_page_reads_one_state_though_a_change_commits_meanwhile(tenant: Tenant) -> None:
    """What a page shows and the version it carries come from the same state, so a
    change committed between its reads cannot slip under the version."""
    await tenant.create_api(name="Before")
    name = select(ResourceServer.name).where(ResourceServer.identifier == AUDIENCE)
    names = []
    async with snapshot(_request(tenant)) as session:
        names.append(await session.scalar(name))
        async with tenant.runtime.sessions() as other, other.begin():
            rename = update(ResourceServer).where(ResourceServer.identifier == AUDIENCE)
            await other.execute(rename.values(name="After"))
        names.append(await session.scalar(name))
    async with tenant.runtime.sessions() as session:
        now = await session.scalar(name)
    assert names == ["Before", "Before"]
    assert now == "After"


async def test_a_versioned_form_without_the_pages_version_is_a_programming_error(
    tenant: Tenant,
) -> None:
    async def show(_problem: object) -> None:
        raise AssertionError("not reached")

    here = FormPage(_request(tenant), None, "/admin/apis/1", show)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs the page's version"):
        await here.submit({}, "settings", show, flash="", versioned=True)  # type: ignore[arg-type]
