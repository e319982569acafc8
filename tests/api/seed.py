"""The seed's own `POST /timesheets` body, which the API accepts unchanged."""

from __future__ import annotations

from typing import Any

SEED: dict[str, Any] = {
    "user_type": "Employee",
    "user_id": "007",
    "year": 2017,
    "week": 23,
    "project": "StoreZero",
    "hours": 5,
}
