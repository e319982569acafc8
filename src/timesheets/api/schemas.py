"""Request and response shapes of the Timesheets API, validated strictly."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from timesheets.api.domain.hours import to_hundredths
from timesheets.api.domain.weeks import check_week, week_of
from timesheets.storable_text import unstorable

UserType = Literal["Employee", "Contractor"]
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _clean_text(value: str) -> str:
    if (problem := unstorable(value)) is not None:
        raise ValueError(f"must not contain {problem}")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _iso_date(value: Any) -> Any:
    if isinstance(value, str):
        if not _DATE.fullmatch(value):
            raise ValueError("a date is written YYYY-MM-DD")
        return date.fromisoformat(value)
    return value


Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_text)]
Identifier = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_clean_text)]
Description = Annotated[str, Field(max_length=2000), AfterValidator(_clean_text)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def _refused(message: str, *fields: str) -> PydanticCustomError:
    """A whole-model check's refusal naming the fields to fix (`errors.field_errors`)."""
    return PydanticCustomError("refused", message, {"fields": fields})


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class EntryFields(_Strict):
    """What an entry says: whose, which project, how long, which week or day."""

    user_type: UserType | None = None
    user_id: Identifier | None = None
    project: Text
    # Before `hours`, whose limit depends on it.
    date: IsoDate | None = None
    hours: int | float = Field(
        description=(
            "Hours, positive, at most two decimals: at most 24 for a day's entry (with "
            "`date`), 168 for a week's (with `year` and `week`). The hours stored for a "
            "person stay within 24 a day and the weekly cap of their user type."
        )
    )
    year: Annotated[int, Field(ge=1, le=9999)] | None = Field(None, description="ISO year.")
    week: Annotated[int, Field(ge=1, le=53)] | None = Field(None, description="ISO week.")
    description: Description | None = None

    @field_validator("hours")
    @classmethod
    def _hours_of_a_day_or_a_week(cls, value: int | float, info: ValidationInfo) -> int | float:
        to_hundredths(value, day=info.data.get("date") is not None)
        return value

    @model_validator(mode="after")
    def _week_or_date(self) -> EntryFields:
        """A date fixes the ISO week: `year` and `week` sent with it must be its own, or
        `date` is refused. Without a date, a missing `year` or `week` is refused, and a
        `week` its `year` does not have."""
        if self.date is not None:
            year, week = week_of(self.date)
            if self.year not in (None, year) or self.week not in (None, week):
                raise _refused(
                    f"date {self.date} is in ISO week {year}-W{week:02d}; "
                    "year and week sent with a date must be its own",
                    "date",
                )
        elif self.year is None or self.week is None:
            missing = [name for name in ("year", "week") if getattr(self, name) is None]
            raise _refused("give either date, or year and week", *missing)
        else:
            try:
                check_week(self.year, self.week)
            except ValueError as error:
                raise _refused(str(error), "week") from None
        return self

    @property
    def iso_week(self) -> tuple[int, int]:
        """The entry's ISO (year, week)."""
        if self.date is not None:
            return week_of(self.date)
        assert self.year is not None
        assert self.week is not None
        return self.year, self.week

    @property
    def hundredths(self) -> int:
        """Hours in hundredths (validated by `to_hundredths`)."""
        return to_hundredths(self.hours)


class TimesheetCreate(EntryFields):
    """`POST /timesheets`: the seed's `{user_type, user_id, year, week, project, hours}` or a
    per-day `{date, project, hours}`."""


class UploadItem(EntryFields):
    """One entry of `POST /timesheets/upload`, with the importer's id for exactly-once."""

    external_id: Identifier | None = None


class Decision(_Strict):
    """`PUT /approvals/{id}`: empty body approves; a rejection needs a reason."""

    # The rule `_reason_for_rejection` checks, for the OpenAPI document.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"decision": {"const": "reject"}}, "required": ["decision"]},
            "then": {"required": ["reason"], "properties": {"reason": {"type": "string"}}},
        }
    )

    decision: Literal["approve", "reject"] = "approve"
    reason: Description | None = Field(
        None,
        description=(
            "Why: required to reject, not blank, and kept on the entry as its rejection"
            " reason; an approval's, optional, is kept in the entry's audit trail only."
        ),
    )

    @model_validator(mode="after")
    def _reason_for_rejection(self) -> Decision:
        if self.decision == "reject" and not self.reason:
            raise _refused("a rejection needs a reason", "reason")
        return self
