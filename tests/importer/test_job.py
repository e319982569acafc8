"""Whole runs of the import job against the real API and authorization server on loopback:
exactly once across re-runs, lost state, interrupted runs and dry runs; the command's exit
codes; and a million rows in bounded memory."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.authserver.conftest import AUDIENCE
from tests.importer import FIXTURES, StoringApi, dry_run, problem_rows, upload_run
from tests.importer.conftest import Platform
from timesheets.importer import job
from timesheets.importer.errors import ConfigurationError, NotAuthorized, TemporaryFailure
from timesheets.importer.job import Summary
from timesheets.importer.mapping import PeopleMap, Person
from timesheets.importer.state import State
from timesheets.importer.token_cache import TokenProvider
from timesheets.importer.uploader import Uploader

TIMESHEETS = str(Path(sys.executable).with_name("timesheets"))
GENERIC_HEADER = "external_id,user_id,user_type,date,project,hours,description,updated_at\n"


class CountingClient(httpx.Client):
    """An HTTP client that counts the uploads it sends."""

    def __init__(self) -> None:
        self.uploads = 0
        super().__init__(timeout=30, event_hooks={"request": [self._count]})

    def _count(self, request: httpx.Request) -> None:
        if request.url.path == "/timesheets/upload":
            self.uploads += 1


def run_job(
    platform: Platform,
    source: Path,
    fmt: job.Format,
    state_dir: Path,
    people: PeopleMap,
    *,
    dry_run: bool = False,
    prepare: Callable[[State, Uploader], None] | None = None,
    client: CountingClient | None = None,
    **options: Any,
) -> Summary:
    """One run of the job as the command wires it (synchronous: call it in a thread)."""
    state = State(state_dir / "state.db")
    http = client or CountingClient()
    try:
        tokens = TokenProvider(platform.config(), http, state_dir / "token.json")
        uploader = Uploader(platform.api_url, http, tokens, max_wait=0.5)
        if prepare is not None:
            prepare(state, uploader)
        return job.run(source, fmt, state, people, None if dry_run else uploader, **options)
    finally:
        state.close()
        if client is None:
            http.close()


def forget_state(state_dir: Path) -> None:
    """Lose the state file (and its WAL), as if the disk had been replaced."""
    for path in state_dir.glob("state.db*"):
        path.unlink()


async def stored_hours(platform: Platform) -> dict[tuple[str, str, str], int]:
    rows = await platform.stored()
    return {
        (str(r["user_id"]), str(r["entry_date"]), str(r["project"])): int(r["hundredths"])  # type: ignore[call-overload]
        for r in rows
    }


async def assert_each_external_id_once(platform: Platform) -> None:
    counts = Counter(row["external_id"] for row in await platform.stored())
    assert counts, "nothing was stored"
    assert max(counts.values()) == 1, counts


async def test_a_clean_import_creates_every_entry_and_exits_0(
    platform: Platform, people: PeopleMap, tmp_path: Path
) -> None:
    summary = await asyncio.to_thread(
        run_job, platform, FIXTURES / "clockify_eu.csv", "clockify", tmp_path, people
    )
    assert (summary.entries, summary.created, summary.rejected) == (4, 4, 0)
    assert summary.exit_code == 0
    assert await stored_hours(platform) == {
        ("c-099", "2026-03-16", "StoreZero"): 750,
        ("c-099", "2026-03-17", "StoreZero"): 100,
        ("c-099", "2026-03-18", "StoreZero"): 100,
        ("c-099", "2026-04-03", "StoreZero"): 125,
    }


async def test_a_toggl_export_lands_in_iso_week_53_with_its_problems_reported(
    platform: Platform, people: PeopleMap, tmp_path: Path
) -> None:
    summary = await asyncio.to_thread(
        run_job, platform, FIXTURES / "toggl_detailed.csv", "toggl", tmp_path, people
    )
    assert (summary.entries, summary.created, summary.duplicates) == (5, 5, 1)
    assert summary.exit_code == 65
    assert {row for row, _key, _reason in summary.problems} == {7, 8, 9}
    rows = {str(r["entry_date"]): r for r in await platform.stored()}
    assert len(rows) == 5
    assert (rows["2026-12-31"]["iso_year"], rows["2026-12-31"]["iso_week"]) == (2026, 53)
    assert (rows["2027-01-03"]["iso_year"], rows["2027-01-03"]["iso_week"]) == (2026, 53)
    assert rows["2026-03-02"]["hundredths"] == 750
    assert rows["2026-03-02"]["description"] == "Checkout / Payments, refunds & the 🚀 launch"
    assert (rows["2026-03-03"]["hundredths"], rows["2026-03-04"]["hundredths"]) == (100, 100)
    assert rows["2026-03-02"]["user_type"] == "Contractor"
    assert rows["2026-12-31"]["user_type"] == "Employee"


async def test_running_again_sends_nothing_and_stores_nothing_new(
    platform: Platform, people: PeopleMap, tmp_path: Path
) -> None:
    source = FIXTURES / "harvest_detailed.csv"
    first = await asyncio.to_thread(run_job, platform, source, "harvest", tmp_path, people)
    assert first.created == 4
    with CountingClient() as client:
        second = await asyncio.to_thread(
            run_job, platform, source, "harvest", tmp_path, people, client=client
        )
        assert client.uploads == 0
    assert (second.created, second.already_present, second.skipped_unchanged) == (0, 0, 4)
    assert second.read == first.read
    assert await platform.entry_count() == 4


class Killed(BaseException):
    """The job's process ending between the API's answer and the state write."""


def kill_before_recording(state: State, _uploader: Uploader) -> None:
    """Make the run end right after the API's first answer, before the state records it."""

    def killed(_results: object) -> None:
        raise Killed

    state.record_uploaded = killed  # type: ignore[method-assign]


async def test_uploads_missing_from_a_lost_state_come_back_as_exists(
    platform: Platform, people: PeopleMap, tmp_path: Path
) -> None:
    source = FIXTURES / "toggl_detailed.csv"
    first = await asyncio.to_thread(run_job, platform, source, "toggl", tmp_path, people)
    forget_state(tmp_path)
    second = await asyncio.to_thread(run_job, platform, source, "toggl", tmp_path, people)
    assert (first.created, second.created, second.already_present) == (5, 0, 5)
    assert await platform.entry_count() == 5
    await assert_each_external_id_once(platform)
    third = await asyncio.to_thread(run_job, platform, source, "toggl", tmp_path, people)
    assert (third.created, third.already_present, third.skipped_unchanged) == (0, 0, 5)


async def test_a_job_killed_after_the_api_answered_but_before_recording_it(
    platform: Platform, people: PeopleMap, tmp_path: Path
) -> None:
    source = FIXTURES / "toggl_detailed.csv"

    with pytest.raises(Killed):
        await asyncio.to_thread(
            run_job,
            platform,
            source,
            "toggl",
            tmp_path,
            people,
            prepare=kill_before_recording,
            batch_size=2,
            in_flight=1,
        )
    # The first batch reached the API; with one batch in flight, no other did.
    reached = await platform.entry_count()
    assert reached == 2
    again = await asyncio.to_thread(run_job, platform, source, "toggl", tmp_path, people)
    assert (again.already_present, again.created) == (reached, 5 - reached)
    assert await platform.entry_count() == 5
    await assert_each_external_id_once(platform)


async def test_a_row_corrected_after_an_unrecorded_upload_is_reported_not_taken_as_done(
    platform: Platform, people: PeopleMap, tmp_path: Path
) -> None:
    """The job ended after the API stored a row and before recording it; the export was
    corrected meanwhile. The API keeps what it stored, and the run says so."""
    source = tmp_path / "hours.csv"
    row = "x-1,c-1,Contractor,2026-03-02,P,{hours},,\n"
    source.write_text(GENERIC_HEADER + row.format(hours=8))
    state_dir = tmp_path / "state"
    state_dir.mkdir()

    with pytest.raises(Killed):
        await asyncio.to_thread(
            run_job, platform, source, "generic", state_dir, people, prepare=kill_before_recording
        )
    source.write_text(GENERIC_HEADER + row.format(hours=7))
    for _ in range(2):  # reported by every run until someone settles it
        again = await asyncio.to_thread(run_job, platform, source, "generic", state_dir, people)
        assert (again.created, again.already_present, again.rejected) == (0, 0, 1)
        assert again.exit_code == 65
        [(_row, external, why)] = again.problems
        assert external == "generic:x-1"
        assert why.startswith("changed since it was uploaded (hours differ)"), why
    assert [r["hundredths"] for r in await platform.stored()] == [800]


async def test_a_run_that_fails_midway_resumes_where_it_stopped(
    platform: Platform, people: PeopleMap, tmp_path: Path
) -> None:
    source = FIXTURES / "toggl_detailed.csv"

    def fail_on_second_batch(_state: State, uploader: Uploader) -> None:
        real = uploader.upload
        calls = 0

        def upload(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise TemporaryFailure("the API did not accept the batch: HTTP 503")
            return real(items)

        uploader.upload = upload  # type: ignore[method-assign]

    with pytest.raises(TemporaryFailure):
        await asyncio.to_thread(
            run_job,
            platform,
            source,
            "toggl",
            tmp_path,
            people,
            prepare=fail_on_second_batch,
            batch_size=2,
        )
    # Batch 1 was stored; batch 3 may have been sent beside the failing batch 2. Whatever
    # the API acknowledged was recorded, so the re-run finds nothing "already present".
    reached = await platform.entry_count()
    assert reached in (2, 3)
    again = await asyncio.to_thread(run_job, platform, source, "toggl", tmp_path, people)
    assert (again.skipped_unchanged, again.created, again.already_present) == (
        reached,
        5 - reached,
        0,
    )
    await assert_each_external_id_once(platform)


async def test_a_dry_run_uploads_nothing_and_leaves_everything_to_send(
    platform: Platform, people: PeopleMap, tmp_path: Path
) -> None:
    source = FIXTURES / "toggl_detailed.csv"
    with CountingClient() as client:
        dry = await asyncio.to_thread(
            run_job, platform, source, "toggl", tmp_path, people, dry_run=True, client=client
        )
        assert client.uploads == 0
    assert dry.dry_run
    assert (dry.entries, dry.created, dry.exit_code) == (5, 0, 65)
    assert not (tmp_path / "token.json").exists()  # no token was even asked for
    assert await platform.entry_count() == 0
    real = await asyncio.to_thread(run_job, platform, source, "toggl", tmp_path, people)
    assert real.created == 5


def test_a_dry_run_refuses_what_the_api_would_refuse_with_its_reasons(tmp_path: Path) -> None:
    source = tmp_path / "hours.csv"
    source.write_text(
        GENERIC_HEADER
        + "n-1,u-1,Employee,2026-03-02,P,-2,,\n"
        + "n-2,u-1,Employee,2026-03-03,P,0,,\n"
        + f"n-3,u-1,Employee,2026-03-04,{'x' * 250},1,,\n"
        + "n-4,u-1,employee,2026-03-05,P,3,,\n"
        + "n-5,u-1,Employee,2026-03-06,P,8,,\n"
    )
    summary, entries = dry_run("generic", source, PeopleMap({}), tmp_path)
    assert (len(entries), summary.rejected, summary.exit_code) == (5, 4, 65)
    problems = problem_rows(summary)
    assert set(problems) == {2, 3, 4, 5}
    assert problems[2] == problems[3] == "hours: hours must be greater than 0"
    assert problems[4] == "project: String should have at most 200 characters"
    assert problems[5] == "user_type: Input should be 'Employee' or 'Contractor'"
    assert {key for _row, key, _reason in summary.problems} == {
        "generic:n-1",
        "generic:n-2",
        "generic:n-3",
        "generic:n-4",
    }


async def test_rows_the_api_rejects_are_reported_with_their_row_and_retried_next_time(
    platform: Platform, people: PeopleMap, tmp_path: Path
) -> None:
    source = FIXTURES / "generic.csv"
    summary = await asyncio.to_thread(run_job, platform, source, "generic", tmp_path, people)
    assert summary.created == 3
    assert summary.exit_code == 65
    by_row = {row: (key, reason) for row, key, reason in summary.problems}
    assert set(by_row) == {5, 6, 7, 8, 9}
    assert by_row[9][0] == "generic:tt-1007"  # 1.234,50 hours: refused by the API
    assert "hours" in by_row[9][1]
    assert summary.rejected == 4  # unknown person, ambiguous date, bad date, too many hours
    again = await asyncio.to_thread(run_job, platform, source, "generic", tmp_path, people)
    assert (again.skipped_unchanged, again.created) == (3, 0)
    assert 9 in {row for row, _key, _reason in again.problems}
    assert await platform.entry_count() == 3


async def test_an_entry_changed_after_upload_is_reported_never_sent_twice(
    platform: Platform, people: PeopleMap, tmp_path: Path
) -> None:
    source = tmp_path / "toggl.csv"
    original = (FIXTURES / "toggl_detailed.csv").read_text(encoding="utf-8-sig")
    source.write_text(original, encoding="utf-8")
    await asyncio.to_thread(run_job, platform, source, "toggl", tmp_path, people)
    # Dana's afternoon on 2 March was edited in Toggl: 4 h became 4.5 h.
    source.write_text(original.replace("17:30:00,04:00:00", "18:00:00,04:30:00"), encoding="utf-8")
    summary = await asyncio.to_thread(run_job, platform, source, "toggl", tmp_path, people)
    changed = [(key, reason) for row, key, reason in summary.problems if row is None]
    assert len(changed) == 1
    assert str(changed[0][0]).startswith("toggl:")
    assert "changed since it was uploaded" in changed[0][1]
    assert (summary.created, summary.skipped_unchanged) == (0, 4)
    assert await platform.entry_count() == 5
    assert (await stored_hours(platform))[("c-017", "2026-03-02", "StoreZero")] == 750


async def test_updated_at_watermarks_skip_rows_already_imported(
    platform: Platform, people: PeopleMap, tmp_path: Path
) -> None:
    source = tmp_path / "hours.csv"
    old_rows = (
        "w-1,e-042,Employee,2026-03-02,StoreZero,2,,2026-03-02T18:00:00Z\n"
        "w-2,e-042,Employee,2026-03-03,StoreZero,3,,2026-03-03T18:00:00Z\n"
    )
    source.write_text(GENERIC_HEADER + old_rows)
    first = await asyncio.to_thread(run_job, platform, source, "generic", tmp_path, people)
    assert (first.created, first.exit_code) == (2, 0)

    source.write_text(
        GENERIC_HEADER
        + old_rows
        + "w-3,e-042,Employee,2026-03-04,StoreZero,4,,2026-03-04T18:00:00Z\n"
        + "w-0,e-042,Employee,2026-03-01,StoreZero,1,,2026-03-01T18:00:00Z\n"  # older: skipped
    )
    second = await asyncio.to_thread(run_job, platform, source, "generic", tmp_path, people)
    assert (second.read, second.entries, second.created) == (4, 1, 1)

    third = await asyncio.to_thread(
        run_job, platform, source, "generic", tmp_path, people, since="2000-01-01"
    )
    assert (third.entries, third.created, third.skipped_unchanged) == (4, 1, 3)
    ids = sorted(str(r["external_id"]) for r in await platform.stored())
    assert ids == ["generic:w-0", "generic:w-1", "generic:w-2", "generic:w-3"]


def test_update_times_compare_as_instants_whatever_their_offset(tmp_path: Path) -> None:
    source = tmp_path / "hours.csv"
    first = "a-1,u-1,Employee,2026-03-02,P,1,,2026-03-02T09:00:00Z\n"
    source.write_text(GENERIC_HEADER + first)
    api = StoringApi()
    upload_run(source, tmp_path, api)
    # 08:30 at UTC-5 is 13:30Z: after the watermark, though its text sorts before it.
    source.write_text(
        GENERIC_HEADER + first + "a-2,u-1,Employee,2026-03-03,P,2,,2026-03-02T08:30:00-05:00\n"
    )
    summary, _entries = upload_run(source, tmp_path, api)
    assert (summary.read, summary.created, summary.exit_code) == (2, 1, 0)
    assert set(api.stored) == {"generic:a-1", "generic:a-2"}


def test_files_of_the_same_name_in_two_folders_keep_their_own_watermarks(
    tmp_path: Path,
) -> None:
    alice, bob = tmp_path / "alice" / "export.csv", tmp_path / "bob" / "export.csv"
    alice.parent.mkdir()
    bob.parent.mkdir()
    alice.write_text(GENERIC_HEADER + "e-1,u-1,Employee,2026-03-02,P,1,,2026-03-10T00:00:00Z\n")
    bob.write_text(GENERIC_HEADER + "e-2,u-2,Employee,2026-03-02,P,1,,2026-03-09T00:00:00Z\n")
    api = StoringApi()
    upload_run(alice, tmp_path, api)
    summary, _entries = upload_run(bob, tmp_path, api)
    assert (summary.created, summary.exit_code) == (1, 0)
    assert set(api.stored) == {"generic:e-1", "generic:e-2"}


def test_an_unreadable_since_is_a_configuration_error_that_changes_nothing(
    tmp_path: Path,
) -> None:
    source = tmp_path / "hours.csv"
    source.write_text(GENERIC_HEADER + "s-1,u-1,Employee,2026-03-02,P,1,,2026-03-02T09:00:00Z\n")
    api = StoringApi()
    with pytest.raises(ConfigurationError) as refused:
        upload_run(source, tmp_path, api, since="yesterday")
    assert refused.value.exit_code == 78
    assert "--since: unrecognised time 'yesterday'" in str(refused.value)
    assert api.stored == {}
    summary, _entries = upload_run(source, tmp_path, api, since="2026-03-02T08:00:00+00:00")
    assert summary.created == 1  # the watermark was left alone


def test_a_run_that_fails_midway_still_tells_what_it_did(tmp_path: Path) -> None:
    class FailingSecondBatch(StoringApi):
        def upload(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            if self.stored:
                raise TemporaryFailure("the API did not accept the batch: HTTP 503")
            return super().upload(items)

    source = tmp_path / "hours.csv"
    rows = "".join(f"f-{n},u-{n},Employee,2026-03-02,P,1,,\n" for n in range(4))
    source.write_text(GENERIC_HEADER + rows + "f-9,nobody@x.example,,2026-03-02,P,1,,\n")
    summary = Summary()
    with pytest.raises(TemporaryFailure):
        upload_run(
            source, tmp_path, FailingSecondBatch(), batch_size=2, in_flight=1, summary=summary
        )
    assert (summary.read, summary.entries, summary.created) == (5, 4, 2)
    assert summary.rejected == 1
    assert "unknown person 'nobody@x.example'" in summary.problems[0][2]
    assert summary.elapsed > 0


async def test_batches_report_progress(
    platform: Platform, people: PeopleMap, tmp_path: Path
) -> None:
    seen: list[tuple[int, int]] = []
    with CountingClient() as client:
        summary = await asyncio.to_thread(
            run_job,
            platform,
            FIXTURES / "toggl_detailed.csv",
            "toggl",
            tmp_path,
            people,
            client=client,
            batch_size=2,
            progress=lambda done, total: seen.append((done, total)),
        )
        assert client.uploads == 3
    assert summary.created == 5
    assert seen == [(2, 5), (4, 5), (5, 5)]


async def test_a_client_without_the_upload_grant_is_not_authorized(
    platform: Platform, people: PeopleMap, tmp_path: Path
) -> None:
    reader = await platform.auth.tenant.machine_client(
        {AUDIENCE: ["read:timesheets"]}, name="Report Reader"
    )
    original = platform.job
    platform.job = reader
    try:
        with pytest.raises(NotAuthorized) as caught:
            await asyncio.to_thread(
                run_job, platform, FIXTURES / "toggl_detailed.csv", "toggl", tmp_path, people
            )
    finally:
        platform.job = original
    assert caught.value.exit_code == 77
    assert await platform.entry_count() == 0


# The command itself, as cron runs it (no terminal: JSON log lines on standard error).


def command(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TIMESHEETS_")}
    return subprocess.run(
        [TIMESHEETS, "import", *args, "--state-dir", str(tmp_path / "state")],
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


OFFLINE_ENV = {
    "TIMESHEETS_ISSUER": "http://127.0.0.1:9",
    "TIMESHEETS_AUDIENCE": AUDIENCE,
    "TIMESHEETS_API_URL": "http://127.0.0.1:9",
    "TIMESHEETS_CLIENT_ID": "import-job",
    "TIMESHEETS_CLIENT_SECRET": "never-shown-secret-0123456789",
}


def log_lines(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_a_dry_run_of_the_command_logs_a_summary_and_exits_65(tmp_path: Path) -> None:
    result = command(
        tmp_path,
        str(FIXTURES / "toggl_detailed.csv"),
        *("--format", "toggl", "--mapping", str(FIXTURES / "people.csv"), "--dry-run"),
        env=OFFLINE_ENV,
    )
    assert result.returncode == 65, result.stderr
    [finished] = [line for line in log_lines(result.stderr) if line["message"] == "import finished"]
    summary = finished["summary"]
    assert (summary["entries"], summary["created"], summary["duplicates"]) == (5, 0, 1)
    assert (summary["rejected"], summary["dry_run"]) == (2, True)
    assert [p["row"] for p in finished["problems"]] == [7, 8, 9]
    assert OFFLINE_ENV["TIMESHEETS_CLIENT_SECRET"] not in result.stdout + result.stderr


def test_missing_configuration_exits_78_naming_the_variables(tmp_path: Path) -> None:
    env = {k: v for k, v in OFFLINE_ENV.items() if k != "TIMESHEETS_CLIENT_SECRET"}
    result = command(tmp_path, str(FIXTURES / "generic.csv"), "--dry-run", env=env)
    assert result.returncode == 78
    assert "TIMESHEETS_CLIENT_SECRET" in result.stderr


def test_a_bad_people_file_exits_78_naming_the_line(tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("person,user_id,user_type\nana@x.example,e-1,Boss\n")
    result = command(
        tmp_path,
        str(FIXTURES / "generic.csv"),
        "--mapping",
        str(people),
        "--dry-run",
        env=OFFLINE_ENV,
    )
    assert result.returncode == 78
    assert "people.csv line 2" in result.stderr


def test_an_unreachable_issuer_exits_75(tmp_path: Path) -> None:
    result = command(
        tmp_path,
        str(FIXTURES / "clockify_eu.csv"),
        "--format",
        "clockify",
        "--mapping",
        str(FIXTURES / "people.csv"),
        env=OFFLINE_ENV,
    )
    assert result.returncode == 75, result.stderr
    assert OFFLINE_ENV["TIMESHEETS_CLIENT_SECRET"] not in result.stdout + result.stderr
    [failed] = [line for line in log_lines(result.stderr) if line["message"] == "import failed"]
    assert failed["exit_code"] == 75
    assert "unreachable" in failed["reason"]
    # What the run did before it failed: every row read, nothing created.
    assert (failed["summary"]["read"], failed["summary"]["entries"]) == (4, 4)
    assert failed["summary"]["created"] == 0


def test_a_run_while_another_holds_the_state_exits_75_and_changes_nothing(
    tmp_path: Path,
) -> None:
    running = State(tmp_path / "state" / "state.db")
    running.begin_run()
    running.problem(3, None, "unknown person 'x'")
    running.end_collecting()
    try:
        result = command(
            tmp_path,
            str(FIXTURES / "toggl_detailed.csv"),
            *("--format", "toggl", "--mapping", str(FIXTURES / "people.csv"), "--dry-run"),
            env=OFFLINE_ENV,
        )
        assert result.returncode == 75, result.stderr
        assert "another import is running" in result.stderr
        assert "Traceback" not in result.stderr
        assert running.problems() == [(3, None, "unknown person 'x'")]
    finally:
        running.close()


def test_a_state_used_with_another_api_exits_78_naming_both(tmp_path: Path) -> None:
    state = State(tmp_path / "state" / "state.db")
    state.bind(
        {
            "api_url": "https://api.elsewhere.example",
            "audience": OFFLINE_ENV["TIMESHEETS_AUDIENCE"],
            "client_id": OFFLINE_ENV["TIMESHEETS_CLIENT_ID"],
        }
    )
    state.close()
    result = command(
        tmp_path, str(FIXTURES / "clockify_eu.csv"), "--format", "clockify", env=OFFLINE_ENV
    )
    assert result.returncode == 78, result.stderr
    assert "'https://api.elsewhere.example', not 'http://127.0.0.1:9'" in result.stderr


def test_a_file_of_another_format_fails_cleanly_not_with_a_traceback(tmp_path: Path) -> None:
    # A Toggl export passed as Harvest: the missing columns are named and the run ends
    # with a documented exit code (65 data or 78 configuration), not a crash (1).
    result = command(
        tmp_path,
        str(FIXTURES / "toggl_detailed.csv"),
        "--format",
        "harvest",
        "--dry-run",
        env=OFFLINE_ENV,
    )
    assert "missing columns" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.returncode in (65, 78), result.stderr[-2000:]


# A million rows in bounded memory. The run happens in a fresh interpreter, whose peak
# resident size (VmHWM, kept per address space) is this run's alone. getrusage's ru_maxrss
# would not do: Linux carries it over from the forking parent, here pytest itself.

MEASURE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from timesheets.importer import job
    from timesheets.importer.mapping import PeopleMap, Person
    from timesheets.importer.state import State

    def status_kib(field):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])

    before = status_kib("VmRSS")
    state = State(Path(sys.argv[2]) / "state.db")
    summary = job.run(Path(sys.argv[1]), "generic", state, PeopleMap({}), None)
    peak = status_kib("VmHWM")
    print(json.dumps({
        "before_kib": before, "peak_kib": peak, "read": summary.read,
        "entries": summary.entries, "rejected": summary.rejected,
        "problems": len(summary.problems), "elapsed": summary.elapsed,
    }))
    """
)
MILLION = 1_000_000


def write_million_rows(path: Path) -> None:
    """A generic CSV of a million rows, written as it is generated; every 10,000th row has
    an impossible date."""
    start = date(2026, 1, 5)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("external_id,user_id,user_type,date,project,hours,description\n")
        for n in range(MILLION):
            day = "2026-02-30" if n % 10_000 == 9_999 else start + timedelta(days=n // 1000 % 700)
            handle.write(f"m-{n},u-{n % 1000},Employee,{day},Project {n % 7},1.5,row {n}\n")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_million_rows_are_processed_in_bounded_memory(tmp_path: Path) -> None:
    source = tmp_path / "million.csv"
    write_million_rows(source)
    assert source.stat().st_size > 50_000_000
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(source), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    growth_mib = (measured["peak_kib"] - measured["before_kib"]) / 1024
    print(f"1M rows: peak RSS growth {growth_mib:.1f} MiB in {measured['elapsed']:.0f} s")
    assert measured["read"] == MILLION
    assert measured["entries"] == MILLION - 100
    assert measured["rejected"] == measured["problems"] == 100
    assert growth_mib < 64, measured


def test_the_input_digest_changes_with_everything_a_run_depends_on(tmp_path: Path) -> None:
    # A re-run is skipped only for the exact input of a completed run: the file's bytes,
    # its format, the people mapping, --since and --date-order.
    source = tmp_path / "export.csv"
    source.write_bytes((FIXTURES / "toggl_detailed.csv").read_bytes())
    people = PeopleMap.load(FIXTURES / "people.csv")
    base = job.input_digest(source, "toggl", people, None, "auto")
    assert job.input_digest(source, "toggl", people, None, "auto") == base
    remapped = PeopleMap(
        {**people.people, "dana@contractors.example": Person("c-999", "Contractor")}
    )
    variants = [
        job.input_digest(source, "clockify", people, None, "auto"),
        job.input_digest(source, "toggl", remapped, None, "auto"),
        job.input_digest(source, "toggl", people, "2026-03-01", "auto"),
        job.input_digest(source, "toggl", people, None, "eu"),
    ]
    source.write_bytes(source.read_bytes() + b"\n")
    variants.append(job.input_digest(source, "toggl", people, None, "auto"))
    assert len({base, *variants}) == 6


def test_a_completed_input_is_remembered_only_by_its_digest(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    try:
        assert state.completed("a" * 64) is None
        state.set_completed("a" * 64, 10, 8, 1)
        state.set_completed("a" * 64, 12, 9, 2)
        assert state.completed("a" * 64) == (12, 9, 2)
        assert state.completed("b" * 64) is None
    finally:
        state.close()
