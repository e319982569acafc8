"""Pagination like the Timesheets API: `limit` and `offset`, the total in `X-Total-Count`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

Limit = Annotated[int, Query(ge=1, le=200, description="Page size (at most 200).")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Rows skipped.")]
TOTAL = "X-Total-Count"
