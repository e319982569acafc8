"""POST /timesheets and POST /timesheets/upload against the running API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api
from tests.api.seed import SEED
from tests.issuer import TestIssuer
from tests.live import serve_in_thread
from timesheets.api import writer as writer_module
from timesheets.api.app import create_app
from timesheets.api.entries import DURABILITY_UNKNOWN
from timesheets.settings import ApiSettings


async def test_seed_request_is_created_with_the_seed_message(api: Api) -> None:
    response = await api.http.post("/timesheets", json=SEED, headers=api.auth())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["message"] == "Timesheet created for Employee: 007"
    assert response.headers["location"] == f"/timesheets/{body['id']}"
    assert body["hours"] == 5
    assert (body["year"], body["week"], body["status"]) == (2017, 23, "submitted")
    stored = await api.http.get(f"/timesheets/{body['id']}", headers=api.auth())
    assert stored.json()["project"] == "StoreZero"


async def test_the_seed_texts_own_body_of_a_40_hour_week_is_created(api: Api) -> None:
    seed = SEED | {"year": 2016, "week": 24, "hours": 40}
    response = await api.http.post("/timesheets", json=seed, headers=api.auth())
    assert response.status_code == 201, response.text
    assert response.json()["message"] == "Timesheet created for Employee: 007"
    assert (response.json()["hours"], response.json()["week"]) == (40, 24)


async def test_a_day_of_more_than_24_hours_is_422_naming_hours_and_stores_nothing(
    api: Api,
) -> None:
    before = await api.row_counts()
    day = {"date": "2026-11-30", "project": "StoreZero", "hours": 25, "user_id": "007"}
    response = await api.http.post("/timesheets", json=day, headers=api.auth())
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "hours", "message": "hours may not exceed 24 on a day"}
    ]
    assert await api.row_counts() == before


async def test_no_token_is_401_with_bare_challenge_and_stores_nothing(api: Api) -> None:
    before = await api.row_counts()
    response = await api.http.post("/timesheets", json=SEED)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="timesheets"'
    assert response.json() == {"message": "Missing or invalid token"}
    assert await api.row_counts() == before


async def test_token_without_scope_is_403(api: Api) -> None:
    token = api.issuer.token(api.issuer.claims(scope="read:timesheets"))
    before = await api.row_counts()
    response = await api.http.post("/timesheets", json=SEED, headers=api.auth(token))
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="create:timesheets"' in challenge
    assert await api.row_counts() == before


async def with_eight_others(api: Api, entry: dict[str, Any], token: str) -> httpx.Response:
    """The answer to creating `entry` with `token`, sent together with eight valid creates
    of the entry for others, which must all be stored (201)."""
    answer, *others = await asyncio.gather(
        api.http.post("/timesheets", json=entry, headers=api.auth(token)),
        *[
            api.http.post("/timesheets", json=entry | {"user_id": f"p{i}"}, headers=api.auth())
            for i in range(8)
        ],
    )
    assert [r.status_code for r in others] == [201] * 8
    return answer


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("sub", "a\ud800"),
        ("sub", "a\x00b"),
        ("sub", "s" * 201),
        ("client_id", "c\udc00"),
        ("client_id", "c\x00"),
        ("client_id", "c" * 201),
    ],
)
async def test_a_caller_that_cannot_be_stored_is_401_and_fails_no_one_else(
    api: Api, claim: str, value: str
) -> None:
    """Such a token is refused before the writer, where it once failed every create of
    its commit (500 on SQLite, 503 on PostgreSQL)."""
    unstorable = api.issuer.token(api.issuer.claims(**{claim: value}))
    before = await api.row_counts()
    refused = await with_eight_others(api, SEED, unstorable)
    assert refused.status_code == 401, refused.text
    challenge = 'Bearer realm="timesheets", error="invalid_token", error_description="the '
    assert refused.headers["www-authenticate"].startswith(f"{challenge}{claim} claim ")
    after = await api.row_counts()
    assert after["entries"] == before["entries"] + 8
    assert after["audit_events"] == before["audit_events"] + 8


async def test_a_person_whose_subject_is_longer_than_a_user_id_is_422_and_fails_no_one_else(
    api: Api,
) -> None:
    person = api.issuer.person("p" * 101, "create:timesheets")
    day = {"date": "2026-11-30", "project": "StoreZero", "hours": 2}
    before = await api.row_counts()
    refused = await with_eight_others(api, day, person)
    assert refused.status_code == 422, refused.text
    assert [error["field"] for error in refused.json()["errors"]] == ["user_id"]
    assert (await api.row_counts())["entries"] == before["entries"] + 8
    fits = api.issuer.person("p" * 100, "create:timesheets")
    stored = await api.http.post("/timesheets", json=day, headers=api.auth(fits))
    assert stored.status_code == 201, stored.text
    assert stored.json()["user_id"] == "p" * 100


async def test_idempotency_key_with_concurrent_retries_stores_one_entry(api: Api) -> None:
    headers = api.auth() | {"Idempotency-Key": "retry-1"}
    responses = await asyncio.gather(
        *[api.http.post("/timesheets", json=SEED, headers=headers) for _ in range(8)]
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert (await api.row_counts())["entries"] == 1
    other = await api.http.post("/timesheets", json=SEED | {"hours": 6}, headers=headers)
    assert other.status_code == 422


@pytest.mark.parametrize(
    "hours",
    [
        '"8"',
        "true",
        "null",
        "[8]",
        '{"$gt": 0}',
        "-1",
        "0",
        "-0.0",
        "168.5",
        "7.123",
        "1e400",
        "NaN",
        "Infinity",
    ],
)
async def test_bad_hours_are_422_and_store_nothing(api: Api, hours: str) -> None:
    before = await api.row_counts()
    body = json.dumps(SEED | {"hours": 0}).replace('"hours": 0', f'"hours": {hours}')
    headers = api.auth() | {"Content-Type": "application/json"}
    response = await api.http.post("/timesheets", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert any(error["field"].startswith("hours") for error in response.json()["errors"])
    assert await api.row_counts() == before


async def test_upload_is_exactly_once_per_external_id(api: Api) -> None:
    items = [
        {
            "external_id": f"x{i}",
            "user_id": "u1",
            "date": f"2026-12-{i + 1:02d}",
            "project": "P",
            "hours": 2,
        }
        for i in range(5)
    ]
    first = await api.http.post("/timesheets/upload", json=items, headers=api.auth())
    assert first.status_code == 200
    assert first.json()["created"] == 5
    again = await api.http.post("/timesheets/upload", json=items, headers=api.auth())
    assert again.json()["created"] == 0
    assert again.json()["exists"] == 5
    assert (await api.row_counts())["entries"] == 5


@pytest.mark.parametrize("odd", [2**70, "\ud800"], ids=["integer past 64 bits", "lone surrogate"])
async def test_an_upload_echoing_an_odd_external_id_still_answers_each_item(
    api: Api, odd: object
) -> None:
    items = [
        {"external_id": odd, "user_id": "u1", "date": "2026-12-01", "project": "P", "hours": 2},
        {"external_id": "ok", "user_id": "u1", "date": "2026-12-02", "project": "P", "hours": 2},
    ]
    answer = await api.http.post(
        "/timesheets/upload",
        content=json.dumps(items).encode(),  # ASCII, the surrogate escaped as JSON allows
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert (body["created"], body["rejected"]) == (1, 1)
    assert body["items"][0]["status"] == "rejected"
    assert body["items"][0]["external_id"] == odd
    assert body["items"][1]["status"] == "created"
    assert (await api.row_counts())["entries"] == 1


async def test_concurrent_creates_for_one_week_stop_at_the_cap(api: Api) -> None:
    # 12 creates of 20 hours for one person and week arrive together and share commits:
    # the hour cap (168) is checked across the batch, so exactly 8 are stored.
    responses = await asyncio.gather(
        *[
            api.http.post("/timesheets", json=SEED | {"hours": 20}, headers=api.auth())
            for _ in range(12)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 8 + [422] * 4
    refused = next(r for r in responses if r.status_code == 422)
    assert "168 hours in ISO week 2017-W23" in refused.text
    assert (await api.row_counts())["entries"] == 8


async def test_concurrent_creates_for_different_people_are_all_stored(api: Api) -> None:
    responses = await asyncio.gather(
        *[
            api.http.post("/timesheets", json=SEED | {"user_id": f"p{i}"}, headers=api.auth())
            for i in range(40)
        ]
    )
    assert {r.status_code for r in responses} == {201}
    assert sorted(r.json()["user_id"] for r in responses) == sorted(f"p{i}" for i in range(40))
    assert (await api.row_counts())["entries"] == 40


async def test_a_failed_wal_sync_is_a_500_that_says_to_look_before_resending(
    issuer: TestIssuer,
    tmp_path: Path,
    make_api_settings: Callable[..., ApiSettings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(descriptor: int) -> None:
        raise OSError(5, "Input/output error")

    settings = make_api_settings(issuer, f"sqlite+aiosqlite:///{tmp_path / 'sync.db'}")
    live = serve_in_thread(create_app(settings), settings.port)
    stops: list[bool] = []
    live.app.state.context.writer.on_fatal = lambda: stops.append(True)
    monkeypatch.setattr(writer_module, "sync_file", failing)
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
            api = Api(live, settings, issuer, http)
            failed = await http.post("/timesheets", json=SEED, headers=api.auth())
            assert failed.status_code == 500
            assert failed.json() == {"message": DURABILITY_UNKNOWN}
            assert stops == [True]
            # The entry was committed: a blind resend would store it twice.
            listed = await http.get("/timesheets", headers=api.auth())
            assert [entry["project"] for entry in listed.json()] == ["StoreZero"]
            refused = await http.post("/timesheets", json=SEED, headers=api.auth())
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "2"
    finally:
        live.stop()
