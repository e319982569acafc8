"""How entries look in responses."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from timesheets.api.domain.hours import to_hours


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def entry_json(row: dict[str, Any], *, with_name: bool) -> dict[str, Any]:
    """The public form of a stored entry; its owner's name only `with_name` (else null)."""
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "user_name": row["user_name"] if with_name else None,
        "user_type": row["user_type"],
        "project": row["project"],
        "hours": to_hours(row["hundredths"]),
        "year": row["iso_year"],
        "week": row["iso_week"],
        "date": _iso(row["entry_date"]),
        "description": row["description"],
        "status": row["status"],
        "approved": row["status"] == "approved",
        "rejection_reason": row["rejection_reason"],
        "decided_by": row["decided_by"],
        "decided_at": _iso(row["decided_at"]),
        "created_by": {"subject": row["created_by_subject"], "client_id": row["created_by_client"]},
        "external_id": row["external_id"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }


def created_message(user_type: str, user_id: str) -> str:
    """The seed's confirmation: `Timesheet created for Employee: 007`."""
    return f"Timesheet created for {user_type}: {user_id}"


def audit_json(row: dict[str, Any]) -> dict[str, Any]:
    """The public form of an audit event."""
    return {
        "action": row["action"],
        "subject": row["subject"],
        "client_id": row["client_id"],
        "at": _iso(row["at"]),
        "detail": row["detail"],
    }
