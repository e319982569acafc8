"""A valid new entry for the repository's bulk-insert tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from timesheets.api import repository as repo


def new_entry(user_id: str, hundredths: int = 800, **overrides: Any) -> repo.NewEntry:
    """An entry of `user_id` on Monday of ISO week 2026-W49, with text that needs care
    (a quote, a comma, an emoji); `overrides` replace any field."""
    fields: dict[str, Any] = {
        "user_id": user_id,
        "user_type": "Contractor",
        "project": 'Payroll, "phase 2" 🚀',
        "hundredths": hundredths,
        "iso_year": 2026,
        "iso_week": 49,
        "entry_date": date(2026, 11, 30),
        "description": "night shift",
        "created_by_subject": "importer@clients",
        "created_by_client": "importer",
        "external_id": f"ext-{user_id}",
    }
    return repo.NewEntry(**(fields | overrides))
