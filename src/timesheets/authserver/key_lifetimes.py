"""The longest token lifetime each signing key may have signed with.

A rotated-out key stays published until every token it signed has expired. Lifetimes
change, so the current and next keys record the longest lifetime set while they could
sign, and rotation keeps a key published that long even if lifetimes were shortened since.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver.models import SigningKey


async def cover_lifetime(session: AsyncSession, seconds: int) -> None:
    """Record that the current and next keys may sign tokens living `seconds`."""
    await session.execute(
        update(SigningKey)
        .where(SigningKey.deactivated_at.is_(None), SigningKey.longest_lifetime < seconds)
        .values(longest_lifetime=seconds)
    )
