"""The rules for people (people.py) that keep the tenant administrable, on SQLite and
PostgreSQL: the last enabled administrator stays, and so does the Admin role."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.authserver.conftest import Tenant
from timesheets.authserver import admin, people
from timesheets.authserver.models import User

PASSWORD = "correct horse battery"


async def _admins(tenant: Tenant, *emails: str) -> None:
    async def work(session: Any) -> None:
        await people.create_role(session, people.ADMIN_ROLE)
        for email in emails:
            await people.create_user(session, email=email, name=email, password=PASSWORD)
            await people.assign_role(session, email, people.ADMIN_ROLE)

    await tenant.run(work)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda s: people.set_enabled(s, "ada@abc.example", False), "cannot be disabled"),
        (lambda s: people.delete_user(s, "ada@abc.example"), "cannot be deleted"),
        (
            lambda s: people.unassign_role(s, "ada@abc.example", people.ADMIN_ROLE),
            "cannot be without the Admin role",
        ),
    ],
)
async def test_the_last_enabled_administrator_stays(tenant: Tenant, change: Any, says: str) -> None:
    await _admins(tenant, "ada@abc.example")
    before = await tenant.row_counts()
    with pytest.raises(admin.Conflict, match=says):
        await tenant.run(change)
    assert await tenant.row_counts() == before


async def test_with_another_enabled_administrator_one_may_go(tenant: Tenant) -> None:
    await _admins(tenant, "ada@abc.example", "bob@abc.example")
    await tenant.run(lambda s: people.set_enabled(s, "bob@abc.example", False))
    with pytest.raises(admin.Conflict, match="last enabled administrator"):
        await tenant.run(lambda s: people.delete_user(s, "ada@abc.example"))
    await tenant.run(lambda s: people.set_enabled(s, "bob@abc.example", True))
    await tenant.run(lambda s: people.delete_user(s, "ada@abc.example"))
    roles = await tenant.run(lambda s: people.list_users(s))
    assert [user.email for user in roles] == ["bob@abc.example"]


async def test_two_admins_disabled_at_once_leave_one(tenant: Tenant) -> None:
    """Each change counts the other administrators; the second waits for the first to
    commit (the tenant revision is locked up front) and then sees it."""
    await _admins(tenant, "ada@abc.example", "bob@abc.example")
    runtime = tenant.runtime
    first_counted = asyncio.Event()

    async def disable(email: str) -> None:
        async with runtime.change("user:test") as session:
            await people.set_enabled(session, email, False)
            first_counted.set()
            await asyncio.sleep(0.5)  # the other change starts while this one is open

    async def second() -> None:
        await first_counted.wait()
        await disable("bob@abc.example")

    outcomes = await asyncio.gather(disable("ada@abc.example"), second(), return_exceptions=True)
    assert outcomes[0] is None
    assert isinstance(outcomes[1], admin.Conflict)
    assert "last enabled administrator" in str(outcomes[1])
    enabled = await tenant.run(lambda s: s.scalars(select(User.email).where(User.enabled)))
    assert list(enabled) == ["bob@abc.example"]


async def test_the_admin_role_cannot_be_deleted(tenant: Tenant) -> None:
    await _admins(tenant)
    with pytest.raises(admin.Conflict, match="keep it"):
        await tenant.run(lambda s: people.delete_role(s, people.ADMIN_ROLE))


async def test_a_secret_overlap_outside_0_to_30_days_is_refused(tenant: Tenant) -> None:
    client = await tenant.machine_client()
    for overlap in (timedelta(seconds=-1), timedelta(days=31)):
        with pytest.raises(admin.TenantError, match="overlap") as refused:
            await tenant.run(lambda s, o=overlap: admin.rotate_secret(s, client.client_id, o))
        assert refused.value.field == "overlap"
