"""What one API process holds: settings, database engine, group-commit writer, verifier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from timesheets.api.writer import GroupCommitWriter
from timesheets.bearer.verifier import TokenVerifier
from timesheets.settings import ApiSettings


@dataclass
class ApiContext:
    """The state of one API process, shared by its requests."""

    settings: ApiSettings
    engine: AsyncEngine
    writer: GroupCommitWriter
    verifier: TokenVerifier
    http: httpx.AsyncClient

    def now(self) -> datetime:
        """Wall-clock time."""
        return datetime.now(UTC)

    def weekly_cap(self, user_type: str) -> int:
        """The weekly cap of a user type, in hundredths of an hour."""
        hours = (
            self.settings.weekly_cap_contractor
            if user_type == "Contractor"
            else self.settings.weekly_cap_employee
        )
        return round(hours * 100)
