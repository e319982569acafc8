"""The API's own rules for an upload item, so that a dry run refuses what the API would."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from timesheets.api.errors import field_errors
from timesheets.api.schemas import UploadItem


def refusals(item: dict[str, Any]) -> list[dict[str, str]]:
    """Why the API would refuse `item`, as its answer words it (`[{field, message}]`)."""
    try:
        UploadItem.model_validate(item)
    except ValidationError as error:
        return field_errors(error)
    return []


def reasons(errors: list[dict[str, Any]]) -> str:
    """The refusals as one line for the summary."""
    return "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors)
