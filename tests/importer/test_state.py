"""The job's state file: the run's aggregation on disk, what was uploaded, and watermarks."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from timesheets.importer.errors import ConfigurationError, TemporaryFailure
from timesheets.importer.state import PendingEntry, State, row_fingerprint


def entry(external_id: str = "toggl:a", hundredths: int = 100, **changes: str) -> PendingEntry:
    values = {
        "user_id": "c-017",
        "user_type": "Contractor",
        "day": "2026-03-02",
        "project": "StoreZero",
        "description": "Checkout",
        "rows": "2",
    } | changes
    return PendingEntry(
        external_id,
        values["user_id"],
        values["user_type"],
        values["day"],
        values["project"],
        hundredths,
        values["description"],
        values["rows"],
    )


def test_the_state_file_is_private(tmp_path: Path) -> None:
    State(tmp_path / "deep" / "state.db").close()
    mode = stat.S_IMODE((tmp_path / "deep" / "state.db").stat().st_mode)
    assert mode == 0o600


def test_aggregated_entries_add_their_hours_and_keep_the_first_description(
    tmp_path: Path,
) -> None:
    state = State(tmp_path / "state.db")
    state.begin_run()
    assert state.add(entry(hundredths=350, description="first", rows="2"), aggregate=True)
    assert state.add(entry(hundredths=400, description="second", rows="3"), aggregate=True)
    state.end_collecting()
    [(stored, uploaded)] = list(state.pending())
    assert (stored.hundredths, stored.description, stored.rows) == (750, "first", "2")
    assert uploaded is None
    state.close()


def test_an_entry_without_a_description_takes_the_next_rows(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    state.begin_run()
    state.add(entry(description=None), aggregate=True)  # type: ignore[arg-type]
    state.add(entry(description="later"), aggregate=True)
    state.end_collecting()
    assert next(state.pending())[0].description == "later"
    state.close()


def test_a_repeated_key_is_refused_when_not_aggregating(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    state.begin_run()
    assert state.add(entry("generic:1", 100), aggregate=False)
    assert not state.add(entry("generic:1", 900), aggregate=False)
    state.end_collecting()
    assert [e.hundredths for e, _ in state.pending()] == [100]
    state.close()


def test_identical_rows_are_noticed_once_per_run(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    fingerprint = row_fingerprint([None, "dana", "2026-03-02", "StoreZero", 350, "x", None])
    state.begin_run()
    assert not state.seen_row(fingerprint)
    assert state.seen_row(fingerprint)
    state.end_collecting()
    state.begin_run()  # a new run forgets the rows of the last one
    assert not state.seen_row(fingerprint)
    state.end_collecting()
    state.close()


def test_a_new_run_forgets_entries_and_problems_but_not_uploads_or_watermarks(
    tmp_path: Path,
) -> None:
    state = State(tmp_path / "state.db")
    state.begin_run()
    state.add(entry(), aggregate=True)
    state.problem(7, None, "unknown person")
    state.end_collecting()
    state.record_uploaded([(entry(), "created", "id-1")])
    state.set_watermark("generic:hours.csv", datetime(2026, 3, 2, 18, tzinfo=UTC))
    state.begin_run()
    state.end_collecting()
    assert (state.entry_count(), state.problem_count()) == (0, 0)
    assert state.watermark("generic:hours.csv") == datetime(2026, 3, 2, 18, tzinfo=UTC)
    state.begin_run()
    state.add(entry(), aggregate=True)
    state.end_collecting()
    assert [uploaded for _e, uploaded in state.pending()] == [entry().fingerprint]
    state.close()


def test_uploads_and_watermarks_survive_reopening(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    state.record_uploaded([(entry("toggl:a"), "created", "1"), (entry("toggl:b"), "exists", "2")])
    state.set_watermark("generic:a.csv", datetime(2026, 1, 1, tzinfo=UTC))
    state.set_watermark("generic:a.csv", datetime(2026, 2, 1, 8, tzinfo=UTC))
    state.close()
    reopened = State(tmp_path / "state.db")
    rows = reopened.db.execute("SELECT external_id, status FROM uploaded ORDER BY 1").fetchall()
    assert rows == [("toggl:a", "created"), ("toggl:b", "exists")]
    assert reopened.watermark("generic:a.csv") == datetime(2026, 2, 1, 8, tzinfo=UTC)
    assert reopened.watermark("generic:b.csv") is None
    reopened.close()


def test_a_second_run_on_the_same_state_waits_for_the_first_to_finish(tmp_path: Path) -> None:
    first = State(tmp_path / "state.db")
    first.begin_run()
    first.problem(3, None, "unknown person 'x'")
    first.end_collecting()
    with pytest.raises(TemporaryFailure) as refused:
        State(tmp_path / "state.db")
    assert refused.value.exit_code == 75
    assert f"another import is running with the state directory {tmp_path}" in str(refused.value)
    assert first.problem_count() == 1  # the refused run cleared nothing
    first.close()
    second = State(tmp_path / "state.db")
    assert second.problem_count() == 1
    second.close()


def test_an_interrupted_collection_leaves_no_half_run(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    state.begin_run()
    state.add(entry(), aggregate=True)
    state.close()  # killed before end_collecting: nothing was committed
    reopened = State(tmp_path / "state.db")
    assert reopened.entry_count() == 0
    reopened.close()


def test_recording_again_updates_the_fingerprint(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    state.record_uploaded([(entry(hundredths=100), "created", "1")])
    state.record_uploaded([(entry(hundredths=200), "exists", "1")])
    state.begin_run()
    state.add(entry(hundredths=200), aggregate=True)
    state.end_collecting()
    [(pending, uploaded)] = list(state.pending())
    assert uploaded == pending.fingerprint
    state.close()


def test_problems_are_listed_by_row_and_limited(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    state.begin_run()
    for row in (9, 3, 5):
        state.problem(row, None, f"row {row}")
    state.end_collecting()
    assert [p[0] for p in state.problems()] == [3, 5, 9]
    assert len(state.problems(limit=2)) == 2
    assert state.problem_count() == 3
    state.close()


def test_the_fingerprint_follows_what_the_api_stores() -> None:
    base = entry()
    assert entry(description="other words", rows="99").fingerprint == base.fingerprint
    assert entry(hundredths=101).fingerprint != base.fingerprint
    assert entry(day="2026-03-03").fingerprint != base.fingerprint
    assert entry(project="Other").fingerprint != base.fingerprint
    assert entry(user_type="Employee").fingerprint != base.fingerprint


def test_payloads_say_whole_hours_as_integers_and_leave_out_empty_descriptions() -> None:
    assert entry(hundredths=800, description=None).payload() == {  # type: ignore[arg-type]
        "external_id": "toggl:a",
        "user_id": "c-017",
        "user_type": "Contractor",
        "date": "2026-03-02",
        "project": "StoreZero",
        "hours": 8,
    }
    payload = entry(hundredths=225, description="x" * 2500).payload()
    assert payload["hours"] == 2.25
    assert len(payload["description"]) == 2000


def test_pending_entries_come_person_by_person_and_day_by_day(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    state.begin_run()
    for key, person, day in [
        ("toggl:1", "c-020", "2026-03-02"),
        ("toggl:2", "c-017", "2026-03-03"),
        ("toggl:3", "c-020", "2026-03-01"),
        ("toggl:4", "c-017", "2026-03-02"),
        ("toggl:0", "c-017", "2026-03-03"),
    ]:
        state.add(entry(key, user_id=person, day=day), aggregate=False)
    state.end_collecting()
    order = [pending.external_id for pending, _ in state.pending()]
    assert order == ["toggl:4", "toggl:0", "toggl:2", "toggl:3", "toggl:1"]
    state.close()


def test_the_state_is_bound_to_the_first_api_and_client_it_is_used_with(tmp_path: Path) -> None:
    target = {"api_url": "https://api.one.example", "audience": "aud", "client_id": "job"}
    state = State(tmp_path / "state.db")
    state.bind(target)
    state.bind(target)
    state.close()
    reopened = State(tmp_path / "state.db")
    try:
        with pytest.raises(ConfigurationError) as refused:
            reopened.bind(target | {"api_url": "https://api.two.example"})
        assert refused.value.exit_code == 78
        message = str(refused.value)
        assert "'https://api.one.example', not 'https://api.two.example'" in message
        assert "--state-dir" in message
        with pytest.raises(ConfigurationError, match="client_id 'job', not 'other'"):
            reopened.bind(target | {"client_id": "other"})
        reopened.bind(target)
    finally:
        reopened.close()
