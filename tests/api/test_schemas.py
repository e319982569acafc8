"""The request shapes: strict types, unknown fields refused, a week or a date, clean text."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from tests.api.seed import SEED
from timesheets.api.errors import field_errors
from timesheets.api.schemas import Decision, TimesheetCreate, UploadItem


def errors_of(model: type[Any], data: Any) -> list[dict[str, str]]:
    """The API's [{field, message}] for data the model refuses."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)
    return field_errors(refused.value)


def fields_of(model: type[Any], data: Any) -> set[str]:
    """The fields at fault."""
    return {error["field"] for error in errors_of(model, data)}


def test_the_seed_body_is_accepted() -> None:
    entry = TimesheetCreate.model_validate(SEED)
    assert entry.iso_week == (2017, 23)
    assert entry.hundredths == 500
    assert entry.user_type == "Employee"
    assert entry.date is None


def test_the_seeds_own_week_of_40_hours_is_accepted() -> None:
    """The seed text's body, unchanged: a week-level entry holds up to a week's hours."""
    seed = SEED | {"year": 2016, "week": 24, "hours": 40}
    assert TimesheetCreate.model_validate(seed).hundredths == 4000
    assert TimesheetCreate.model_validate(seed | {"hours": 168}).hundredths == 16800
    assert errors_of(TimesheetCreate, seed | {"hours": 168.01}) == [
        {"field": "hours", "message": "hours may not exceed 168"}
    ]


def test_a_day_entry_holds_at_most_24_hours_and_the_refusal_names_hours() -> None:
    day = {"date": "2024-12-30", "project": "P"}
    assert TimesheetCreate.model_validate(day | {"hours": 24}).hundredths == 2400
    for hours in (24.01, 40, 168):
        assert errors_of(TimesheetCreate, day | {"hours": hours}) == [
            {"field": "hours", "message": "hours may not exceed 24 on a day"}
        ]
    upload = day | {"hours": 25, "external_id": "row-1"}
    assert errors_of(UploadItem, upload) == [
        {"field": "hours", "message": "hours may not exceed 24 on a day"}
    ]


def test_a_day_entry_over_24_hours_is_named_with_the_other_fields_at_fault() -> None:
    day = {"date": "2024-12-30", "project": " ", "hours": 30, "description": " "}
    assert errors_of(TimesheetCreate, day) == [
        {"field": "project", "message": "must not be blank"},
        {"field": "hours", "message": "hours may not exceed 24 on a day"},
        {"field": "description", "message": "must not be blank"},
    ]


def test_a_day_entry_gets_its_iso_week_from_the_date() -> None:
    entry = TimesheetCreate.model_validate({"date": "2024-12-30", "project": "P", "hours": 7.25})
    assert entry.date == date(2024, 12, 30)
    assert entry.iso_week == (2025, 1)
    assert entry.hundredths == 725
    assert entry.user_id is None
    assert entry.user_type is None


MISMATCH = "date 2024-12-30 is in ISO week 2025-W01; year and week sent with a date must be its own"


@pytest.mark.parametrize("model", [TimesheetCreate, UploadItem])
def test_a_date_may_repeat_its_own_week_but_not_another(model: type[Any]) -> None:
    day = {"date": "2024-12-30", "project": "P", "hours": 1}
    assert model.model_validate(day | {"year": 2025, "week": 1}).iso_week == (2025, 1)
    assert model.model_validate(day | {"year": 2025}).iso_week == (2025, 1)
    for other in (
        {"year": 2024, "week": 53},
        {"year": 2024},
        {"week": 53},
        {"year": 2024, "week": 1},
    ):
        assert errors_of(model, day | other) == [{"field": "date", "message": MISMATCH}]


@pytest.mark.parametrize("model", [TimesheetCreate, UploadItem])
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({k: v for k, v in SEED.items() if k not in ("year", "week")}, ["year", "week"]),
        ({k: v for k, v in SEED.items() if k != "year"}, ["year"]),
        ({k: v for k, v in SEED.items() if k != "week"}, ["week"]),
        ({"project": "P", "hours": 1}, ["year", "week"]),
    ],
)
def test_an_entry_needs_a_date_or_a_year_and_week_and_the_refusal_names_the_missing(
    model: type[Any], body: dict[str, Any], fields: list[str]
) -> None:
    assert errors_of(model, body) == [
        {"field": field, "message": "give either date, or year and week"} for field in fields
    ]


@pytest.mark.parametrize("model", [TimesheetCreate, UploadItem])
@pytest.mark.parametrize(("year", "ok"), [(2020, True), (2026, True), (2021, False), (2025, False)])
def test_week_53_exists_only_in_long_years(model: type[Any], year: int, ok: bool) -> None:
    data = SEED | {"year": year, "week": 53}
    if ok:
        assert model.model_validate(data).iso_week == (year, 53)
    else:
        assert errors_of(model, data) == [
            {"field": "week", "message": f"ISO year {year} has weeks 1 to 52"}
        ]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"week": 0}, "week"),
        ({"week": 54}, "week"),
        ({"year": 0}, "year"),
        ({"year": 10000}, "year"),
        ({"year": "2017"}, "year"),
        ({"week": "23"}, "week"),
        ({"year": 2017.0}, "year"),
        ({"week": True}, "week"),
        ({"hours": "5"}, "hours"),
        ({"hours": True}, "hours"),
        ({"hours": None}, "hours"),
        ({"hours": 7.123}, "hours"),
        ({"hours": -0.0}, "hours"),
        ({"hours": 168.5}, "hours"),
        ({"user_type": "employee"}, "user_type"),
        ({"user_type": "Manager"}, "user_type"),
        ({"user_id": 7}, "user_id"),
        ({"user_id": "x" * 101}, "user_id"),
        ({"project": ""}, "project"),
        ({"project": "   "}, "project"),
        ({"project": "x" * 201}, "project"),
        ({"project": "a\x00b"}, "project"),
        ({"project": "\ud800"}, "project"),
        ({"project": ["P"]}, "project"),
        ({"description": " \t"}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"date": "20241230"}, "date"),
        ({"date": "2024-12-30T00:00:00"}, "date"),
        ({"date": "2024-02-30"}, "date"),
        ({"date": 20241230}, "date"),
    ],
)
def test_bad_values_are_refused_naming_the_field(override: dict[str, Any], field: str) -> None:
    assert fields_of(TimesheetCreate, SEED | override) == {field}


@pytest.mark.parametrize("hours", ["5", True, None, [5], {"h": 5}])
def test_hours_that_are_no_number_are_named_once_as_hours(hours: Any) -> None:
    """Not once for each member of its union (`hours.int`, `hours.float`)."""
    expected = [{"field": "hours", "message": "Input should be a number"}]
    assert errors_of(TimesheetCreate, SEED | {"hours": hours}) == expected
    assert errors_of(UploadItem, SEED | {"hours": hours}) == expected


@pytest.mark.parametrize(
    "member",
    ["status", "approved", "approved_by", "decided_by", "id", "created_by", "external_id", "Hours"],
)
def test_unknown_members_are_refused(member: str) -> None:
    errors = errors_of(TimesheetCreate, SEED | {member: "x"})
    assert errors == [{"field": member, "message": "Extra inputs are not permitted"}]


def test_text_at_the_length_limits_is_accepted_as_given() -> None:
    entry = TimesheetCreate.model_validate(
        SEED | {"project": " " + "p" * 199, "user_id": "u" * 100, "description": "d" * 2000}
    )
    assert entry.project == " " + "p" * 199
    assert entry.user_id == "u" * 100


@pytest.mark.parametrize("body", [None, [], "entry", 5])
def test_a_body_that_is_not_an_object_is_refused_naming_the_body(body: Any) -> None:
    assert fields_of(TimesheetCreate, body) == {"body"}


def test_entries_are_frozen() -> None:
    entry = TimesheetCreate.model_validate(SEED)
    with pytest.raises(ValidationError):
        entry.hours = 6  # type: ignore[misc]


def test_upload_items_carry_an_external_id() -> None:
    item = UploadItem.model_validate(SEED | {"external_id": "row-1"})
    assert item.external_id == "row-1"
    assert fields_of(UploadItem, SEED | {"external_id": ""}) == {"external_id"}
    assert fields_of(UploadItem, SEED | {"external_id": 1}) == {"external_id"}
    assert fields_of(UploadItem, SEED | {"external_id": "x" * 101}) == {"external_id"}


def test_an_empty_decision_approves() -> None:
    decision = Decision.model_validate({})
    assert (decision.decision, decision.reason) == ("approve", None)


def test_a_rejection_needs_a_reason() -> None:
    rejection = Decision.model_validate({"decision": "reject", "reason": "wrong project"})
    assert (rejection.decision, rejection.reason) == ("reject", "wrong project")
    for data in ({"decision": "reject"}, {"decision": "reject", "reason": None}):
        assert errors_of(Decision, data) == [
            {"field": "reason", "message": "a rejection needs a reason"}
        ]
    assert fields_of(Decision, {"decision": "reject", "reason": "  "}) == {"reason"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"decision": "approved"}, "decision"),
        ({"decision": "Reject", "reason": "x"}, "decision"),
        ({"decision": "approve", "approved_by": "me"}, "approved_by"),
        ({"status": "approved"}, "status"),
        ({"decision": "reject", "reason": "a\x00"}, "reason"),
    ],
)
def test_bad_decisions_are_refused(data: dict[str, Any], field: str) -> None:
    assert fields_of(Decision, data) == {field}
