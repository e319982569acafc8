"""POST /timesheets/upload (one entry, an array, JSON Lines) and the legacy POST /timesheet."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api
from tests.api.seed import SEED


def item(external_id: str | None, **fields: Any) -> dict[str, Any]:
    """An upload item for user u1 on 2026-03-02 unless told otherwise."""
    body = {"user_id": "u1", "project": "P", "date": "2026-03-02", "hours": 2} | fields
    return body if external_id is None else body | {"external_id": external_id}


async def test_a_single_entry_is_created_once_then_exists(api: Api) -> None:
    first = await api.http.post("/timesheets/upload", json=item("row-1"), headers=api.auth())
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["upload_status"] == "created"
    assert created["external_id"] == "row-1"
    assert (created["year"], created["week"], created["hours"]) == (2026, 10, 2)
    assert first.headers["location"] == f"/timesheets/{created['id']}"

    again = await api.http.post(
        "/timesheets/upload", json=item("row-1", hours=3), headers=api.auth()
    )
    assert again.status_code == 200, again.text
    assert again.json()["upload_status"] == "exists"
    assert again.json()["id"] == created["id"]
    assert again.json()["hours"] == 2
    assert again.json()["differs"] == ["hours"]
    assert again.headers["location"] == first.headers["location"]
    same = await api.http.post("/timesheets/upload", json=item("row-1"), headers=api.auth())
    assert (same.json()["upload_status"], same.json()["differs"]) == ("exists", [])

    # The external id belongs to the client that sent it: another importer creates its own.
    other_client = api.issuer.token(api.issuer.claims(client_id="other", sub="other@clients"))
    other = await api.http.post(
        "/timesheets/upload", json=item("row-1"), headers=api.auth(other_client)
    )
    assert other.status_code == 201
    assert other.json()["id"] != created["id"]

    # Without an external id, every upload creates.
    for _ in range(2):
        plain = await api.http.post("/timesheets/upload", json=item(None), headers=api.auth())
        assert plain.status_code == 201
    assert (await api.row_counts())["entries"] == 4

    before = await api.row_counts()
    invalid = await api.http.post(
        "/timesheets/upload", json=item("row-2", hours=25), headers=api.auth()
    )
    assert invalid.status_code == 422
    assert [error["field"] for error in invalid.json()["errors"]] == ["hours"]
    over_the_day = await api.http.post(
        "/timesheets/upload", json=item("row-3", hours=20), headers=api.auth()
    )
    assert over_the_day.status_code == 422
    assert over_the_day.json()["errors"] == [
        {"field": "hours", "message": "more than 24 hours on 2026-03-02"}
    ]
    assert await api.row_counts() == before


async def test_an_array_reports_each_item(api: Api) -> None:
    items: list[Any] = [
        item("a", hours=10),
        item("b", hours=10, project="Q"),
        item("c", hours=10),  # 30 h on one day: refused by the daily cap
        item("d", hours=25),
        item("e", status="approved"),
        "not an entry",
        item(None, date="2026-03-03", hours=1.25),
        item("f", user_id=None),
    ]
    before = await api.row_counts()
    response = await api.http.post("/timesheets/upload", json=items, headers=api.auth())
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["exists"], body["rejected"]) == (3, 0, 5)
    results = body["items"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["status"] for r in results] == [
        "created",
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "created",
        "rejected",
    ]
    assert [r["external_id"] for r in results] == ["a", "b", "c", "d", "e", None, None, "f"]
    assert results[2]["errors"] == [
        {"field": "hours", "message": "more than 24 hours on 2026-03-02"}
    ]
    assert [e["field"] for e in results[3]["errors"]] == ["hours"]
    assert [e["field"] for e in results[4]["errors"]] == ["status"]
    assert results[5]["errors"]
    assert results[7]["errors"] == [
        {"field": "user_id", "message": "a machine client must name the user_id"}
    ]
    assert all("entry" not in r for r in results)
    assert all("id" not in r for r in results if r["status"] == "rejected")
    after = await api.row_counts()
    assert after["entries"] == before["entries"] + 3
    assert after["audit_events"] == before["audit_events"] + 3
    for result in results:
        if result["status"] != "rejected":
            stored = await api.http.get(f"/timesheets/{result['id']}", headers=api.auth())
            assert stored.status_code == 200
    stored_b = await api.http.get(f"/timesheets/{results[1]['id']}", headers=api.auth())
    assert (stored_b.json()["project"], stored_b.json()["external_id"]) == ("Q", "b")

    again = await api.http.post("/timesheets/upload", json=items, headers=api.auth())
    assert again.status_code == 200, again.text
    assert (again.json()["created"], again.json()["exists"], again.json()["rejected"]) == (1, 2, 5)
    assert [r.get("id") for r in again.json()["items"][:2]] == [r["id"] for r in results[:2]]

    empty = await api.http.post("/timesheets/upload", json=[], headers=api.auth())
    assert empty.status_code == 200
    assert empty.json() == {"created": 0, "exists": 0, "rejected": 0, "items": []}


async def test_an_external_id_repeated_in_one_batch_is_stored_once(api: Api) -> None:
    items = [item("a", hours=1), item("b", hours=1), item("a", hours=3), item("a", hours=1)]
    response = await api.http.post("/timesheets/upload", json=items, headers=api.auth())
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["exists"], body["rejected"]) == (2, 2, 0)
    results = body["items"]
    assert [r["status"] for r in results] == ["created", "created", "exists", "exists"]
    assert results[2]["id"] == results[3]["id"] == results[0]["id"]
    assert (results[2]["differs"], results[3]["differs"]) == (["hours"], [])
    assert (await api.row_counts())["entries"] == 2
    stored = await api.http.get(f"/timesheets/{results[0]['id']}", headers=api.auth())
    assert stored.json()["hours"] == 1


async def upload_twice(api: Api, items: list[Any]) -> list[dict[str, Any]]:
    """Upload `items`; upload them again, which must store nothing and find each item
    that has an external id and whose id the first upload stored; the first answer's
    results."""
    first = await api.http.post("/timesheets/upload", json=items, headers=api.auth())
    assert first.status_code == 200, first.text
    results: list[dict[str, Any]] = first.json()["items"]
    before = await api.row_counts()
    again = await api.http.post("/timesheets/upload", json=items, headers=api.auth())
    assert again.status_code == 200, again.text
    ids = {r["external_id"]: r["id"] for r in results if r["status"] == "created"}
    assert [(r["status"], r.get("id")) for r in again.json()["items"]] == [
        ("exists", ids[one["external_id"]]) if one["external_id"] in ids else ("rejected", None)
        for one in items
    ]
    assert await api.row_counts() == before
    return results


DAY_FULL = "more than 24 hours on 2026-03-02"


async def test_a_repeat_of_an_id_the_day_refused_is_tried_on_its_own_after_the_others(
    api: Api,
) -> None:
    items = [
        item("b", hours=20),
        item("a", hours=10),  # 30 h on the day: refused
        item("a", hours=2),  # tried after the batch's other items: 22 h
        item("c", hours=1, date="2026-03-03"),
        item("a", hours=3),  # a repeat of the entry just created
    ]
    results = await upload_twice(api, items)
    assert [r["status"] for r in results] == ["created", "rejected", "created", "created", "exists"]
    assert results[1]["errors"] == [{"field": "hours", "message": DAY_FULL}]
    assert (results[4]["id"], results[4]["differs"]) == (results[2]["id"], ["hours"])
    stored = await api.http.get(f"/timesheets/{results[2]['id']}", headers=api.auth())
    assert (stored.json()["external_id"], stored.json()["hours"]) == ("a", 2)
    assert (await api.row_counts())["entries"] == 3


async def test_a_repeat_is_tried_after_the_batchs_other_items_whatever_their_order(
    api: Api,
) -> None:
    # The repeat comes before "c" in the batch and would fit then; it is tried after it.
    items = [item("b", hours=20), item("a", hours=10), item("a", hours=4), item("c", hours=4)]
    results = await upload_twice(api, items)
    assert [r["status"] for r in results] == ["created", "rejected", "rejected", "created"]
    assert results[2]["errors"] == [{"field": "hours", "message": DAY_FULL}]
    assert (await api.row_counts())["entries"] == 2


async def test_each_repeat_of_a_refused_id_gets_its_own_refusal(api: Api) -> None:
    items = [
        item("b", hours=20),
        item("c", hours=20, date="2026-03-03"),
        item("a", hours=10),  # refused on 2026-03-02
        item("a", hours=5, date="2026-03-03"),  # refused on 2026-03-03
        item("a", hours=4, date="2026-03-03"),  # 24 h: created
        item("a", hours=4, date="2026-03-03"),
    ]
    results = await upload_twice(api, items)
    assert [r["status"] for r in results] == [
        "created",
        "created",
        "rejected",
        "rejected",
        "created",
        "exists",
    ]
    assert [r["errors"][0]["message"] for r in results[2:4]] == [
        DAY_FULL,
        "more than 24 hours on 2026-03-03",
    ]
    assert (results[5]["id"], results[5]["differs"]) == (results[4]["id"], [])
    assert (await api.row_counts())["entries"] == 3


async def test_an_id_first_seen_on_an_invalid_item_is_tried_at_its_first_valid_one(
    api: Api,
) -> None:
    items = [item("a", hours=25), item("b", hours=20), item("a", hours=4), item("c", hours=1)]
    response = await api.http.post("/timesheets/upload", json=items, headers=api.auth())
    assert response.status_code == 200, response.text
    results = response.json()["items"]
    assert [r["status"] for r in results] == ["rejected", "created", "created", "rejected"]
    assert [e["field"] for e in results[0]["errors"]] == ["hours"]
    assert results[3]["errors"] == [{"field": "hours", "message": DAY_FULL}]


async def test_repeats_of_an_id_the_caps_keep_refusing_are_all_rejected(api: Api) -> None:
    week = [item(f"d{day}", hours=24, date=f"2026-03-{day:02d}") for day in range(3, 8)]
    for_the_week = item("a", hours=29, year=2026, week=10)
    for_the_week.pop("date")
    items = [
        item("b", hours=20),
        *week,  # 140 h in ISO week 2026-W10
        item("a", hours=10),  # refused: 30 h on the day
        for_the_week,  # refused: 169 h in the week
        item("a", hours=6),  # refused: 26 h on the day
    ]
    before = await api.row_counts()
    response = await api.http.post("/timesheets/upload", json=items, headers=api.auth())
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["exists"], body["rejected"]) == (6, 0, 3)
    assert [r["errors"] for r in body["items"][6:]] == [
        [{"field": "hours", "message": DAY_FULL}],
        [{"field": "hours", "message": "more than 168 hours in ISO week 2026-W10"}],
        [{"field": "hours", "message": DAY_FULL}],
    ]
    assert (await api.row_counts())["entries"] == before["entries"] + 6
    listed = await api.http.get("/timesheets?limit=100", headers=api.auth())
    assert "a" not in {entry["external_id"] for entry in listed.json()}


async def test_an_item_already_stored_names_each_field_it_differs_in(api: Api) -> None:
    """A corrected export row under a stored external id changes nothing, and says so."""
    first = await api.http.post("/timesheets/upload", json=[item("r")], headers=api.auth())
    assert first.json()["created"] == 1
    before = await api.row_counts()
    changed = item(
        "r", user_id="u2", project="Q", hours=2.5, date="2026-03-09", description="fixed"
    ) | {"user_type": "Contractor"}
    again = await api.http.post("/timesheets/upload", json=[changed], headers=api.auth())
    assert again.status_code == 200, again.text
    result = again.json()["items"][0]
    assert result["status"] == "exists"
    assert result["differs"] == [
        "user_type",
        "user_id",
        "project",
        "hours",
        "week",
        "date",
        "description",
    ]
    assert await api.row_counts() == before


async def test_the_weekly_cap_holds_inside_one_batch(api: Api) -> None:
    week = [item(f"d{day}", date=f"2026-03-{day:02d}", hours=24) for day in range(2, 9)]
    extra = [item("more", year=2026, week=10, date=None, hours=0.01)]
    extra[0].pop("date")
    other_user = [item("bob", user_id="bob", year=2026, week=10, hours=24)]
    other_user[0].pop("date")
    response = await api.http.post(
        "/timesheets/upload", json=week + extra + other_user, headers=api.auth()
    )
    assert response.status_code == 200, response.text
    results = response.json()["items"]
    assert [r["status"] for r in results] == ["created"] * 7 + ["rejected", "created"]
    assert results[7]["errors"] == [
        {"field": "hours", "message": "more than 168 hours in ISO week 2026-W10"}
    ]
    assert (await api.row_counts())["entries"] == 8


async def test_a_weeks_entry_holds_a_weeks_hours_in_an_array_and_in_json_lines(
    api: Api,
) -> None:
    def week(external_id: str, user_id: str, hours: float) -> dict[str, Any]:
        entry = item(external_id, user_id=user_id, year=2026, week=10, hours=hours)
        entry.pop("date")
        return entry

    array = [week("w1", "ann", 40), week("w2", "bob", 168), week("w3", "cy", 168.01)]
    response = await api.http.post("/timesheets/upload", json=array, headers=api.auth())
    assert response.status_code == 200, response.text
    results = response.json()["items"]
    assert [r["status"] for r in results] == ["created", "created", "rejected"]
    assert results[2]["errors"] == [{"field": "hours", "message": "hours may not exceed 168"}]
    lines = "\n".join(json.dumps(e) for e in (week("w4", "dee", 40), item("d1", hours=40)))
    response = await api.http.post(
        "/timesheets/upload",
        content=lines.encode(),
        headers=api.auth() | {"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    results = response.json()["items"]
    assert [r["status"] for r in results] == ["created", "rejected"]
    assert results[1]["errors"] == [
        {"field": "hours", "message": "hours may not exceed 24 on a day"}
    ]
    assert (await api.row_counts())["entries"] == 3


async def test_json_lines_upload(api: Api) -> None:
    lines = [item(f"l{i}", date=f"2026-03-{i + 2:02d}") for i in range(3)]
    body = "\n".join(json.dumps(line) for line in lines[:2]) + "\n\n" + json.dumps(lines[2])
    first = await api.http.post(
        "/timesheets/upload",
        content=body.encode(),
        headers=api.auth() | {"Content-Type": "application/x-ndjson"},
    )
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["exists"]) == (3, 0)
    assert [r["external_id"] for r in first.json()["items"]] == ["l0", "l1", "l2"]
    again = await api.http.post(
        "/timesheets/upload",
        content=(body + "\r\n").encode(),
        headers=api.auth() | {"Content-Type": "application/jsonl; charset=utf-8"},
    )
    assert again.status_code == 200, again.text
    assert (again.json()["created"], again.json()["exists"]) == (0, 3)
    assert [r["id"] for r in again.json()["items"]] == [r["id"] for r in first.json()["items"]]
    assert (await api.row_counts())["entries"] == 3

    before = await api.row_counts()
    bad_line = json.dumps(item("l9", date="2026-03-09")) + "\n{not json}\n"
    refused = await api.http.post(
        "/timesheets/upload",
        content=bad_line.encode(),
        headers=api.auth() | {"Content-Type": "application/x-ndjson"},
    )
    assert refused.status_code == 400
    assert "line 2" in refused.json()["message"]
    # JSON Lines are for the upload only.
    single = await api.http.post(
        "/timesheets",
        content=json.dumps(SEED).encode(),
        headers=api.auth() | {"Content-Type": "application/x-ndjson"},
    )
    assert single.status_code == 415
    assert await api.row_counts() == before


async def test_upload_needs_its_scope_and_an_entry_shaped_body(api: Api) -> None:
    before = await api.row_counts()
    create_only = api.issuer.token(api.issuer.claims(scope="create:timesheets"))
    refused = await api.http.post(
        "/timesheets/upload", json=[item("a")], headers=api.auth(create_only)
    )
    assert refused.status_code == 403
    assert 'scope="batch:upload"' in refused.headers["www-authenticate"]
    assert (await api.http.post("/timesheets/upload", json=[item("a")])).status_code == 401
    for body in (b"5", b'"entry"', b"null", b"true"):
        response = await api.http.post(
            "/timesheets/upload",
            content=body,
            headers=api.auth() | {"Content-Type": "application/json"},
        )
        assert response.status_code == 400, (body, response.text)
        assert response.json() == {
            "message": "The body must be an entry, an array of entries, or JSON Lines"
        }
    assert await api.row_counts() == before


async def test_a_person_uploads_for_themselves_only(api: Api) -> None:
    alice = api.issuer.person("alice", "read:timesheets batch:upload")
    response = await api.http.post(
        "/timesheets/upload",
        json=[
            {"external_id": "a", "project": "P", "date": "2026-03-02", "hours": 1},
            {
                "external_id": "b",
                "user_id": "alice",
                "project": "P",
                "year": 2026,
                "week": 10,
                "hours": 1,
            },
            {
                "external_id": "c",
                "user_id": "bob",
                "project": "P",
                "date": "2026-03-02",
                "hours": 1,
            },
        ],
        headers=api.auth(alice),
    )
    assert response.status_code == 200, response.text
    results = response.json()["items"]
    assert [r["status"] for r in results] == ["created", "created", "rejected"]
    assert results[2]["errors"] == [
        {"field": "user_id", "message": "a person creates entries for themselves only"}
    ]
    stored = await api.http.get("/timesheets", headers=api.auth(alice))
    assert {entry["user_id"] for entry in stored.json()} == {"alice"}
    assert stored.headers["x-total-count"] == "2"


async def test_the_legacy_path_works_like_post_timesheets(api: Api) -> None:
    response = await api.http.post("/timesheet", json=SEED, headers=api.auth())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["message"] == "Timesheet created for Employee: 007"
    assert response.headers["location"] == f"/timesheets/{body['id']}"
    contractor = await api.http.post(
        "/timesheet", json=SEED | {"user_type": "Contractor", "user_id": "C-9"}, headers=api.auth()
    )
    assert contractor.json()["message"] == "Timesheet created for Contractor: C-9"
    defaulted = await api.http.post(
        "/timesheet", json={k: v for k, v in SEED.items() if k != "user_type"}, headers=api.auth()
    )
    assert defaulted.json()["user_type"] == "Employee"
    assert defaulted.json()["message"] == "Timesheet created for Employee: 007"

    before = await api.row_counts()
    refusals: list[tuple[dict[str, str], bytes, int]] = [
        (api.auth(), json.dumps(SEED | {"approved": True}).encode(), 422),
        (api.auth(), json.dumps(SEED | {"week": 53}).encode(), 422),
        (api.auth(), b'{"user_id": "007",', 400),
        ({}, json.dumps(SEED).encode(), 401),
        (
            api.auth(api.issuer.token(api.issuer.claims(scope="read:timesheets"))),
            json.dumps(SEED).encode(),
            403,
        ),
    ]
    for headers, content, status in refusals:
        refused = await api.http.post(
            "/timesheet", content=content, headers=headers | {"Content-Type": "application/json"}
        )
        assert refused.status_code == status, (content, refused.text)
    plain = await api.http.post(
        "/timesheet",
        content=json.dumps(SEED).encode(),
        headers=api.auth() | {"Content-Type": "text/plain"},
    )
    assert plain.status_code == 415
    assert await api.row_counts() == before


async def test_json_text_sequences_are_not_accepted(api: Api) -> None:
    # RFC 7464 records (RS, JSON text, LF) are not JSON Lines: refused, nothing stored.
    records = [item(f"s{i}", date=f"2026-03-{i + 2:02d}") for i in range(2)]
    body = b"".join(b"\x1e" + json.dumps(record).encode() + b"\n" for record in records)
    response = await api.http.post(
        "/timesheets/upload",
        content=body,
        headers=api.auth() | {"Content-Type": "application/json-seq"},
    )
    assert response.status_code == 415, response.text
    assert (await api.row_counts())["entries"] == 0


async def test_a_persons_external_id_never_reaches_another_persons_entry(api: Api) -> None:
    # Two people upload through the same client (the web app) with the same external id.
    alice = api.issuer.person("alice", "read:timesheets batch:upload")
    bob = api.issuer.person("bob", "read:timesheets batch:upload")
    row = {"external_id": "row-1", "date": "2026-03-02", "hours": 3}
    alices = await api.http.post(
        "/timesheets/upload",
        json=row | {"project": "Secret", "description": "alice's notes"},
        headers=api.auth(alice),
    )
    assert alices.status_code == 201, alices.text
    bobs = await api.http.post(
        "/timesheets/upload", json=row | {"project": "Mine"}, headers=api.auth(bob)
    )
    assert "alice" not in bobs.text
    assert "Secret" not in bobs.text
    assert bobs.status_code == 201, bobs.text
    assert (bobs.json()["user_id"], bobs.json()["project"]) == ("bob", "Mine")
    listed = await api.http.get("/timesheets", headers=api.auth(bob))
    assert [entry["project"] for entry in listed.json()] == ["Mine"]


REUSED = {"message": "Idempotency-Key was already used with a different body"}


async def send(api: Api, form: str, items: list[Any], key: str | None) -> httpx.Response:
    """Upload `items` as one object ("object", a single item), a JSON array ("array") or
    JSON Lines ("lines"), with `key` as the Idempotency-Key when given."""
    headers = api.auth() | ({} if key is None else {"Idempotency-Key": key})
    if form == "lines":
        body = "\n".join(json.dumps(one) for one in items).encode()
        headers |= {"Content-Type": "application/x-ndjson"}
    else:
        body = json.dumps(items[0] if form == "object" else items).encode()
        headers |= {"Content-Type": "application/json"}
    return await api.http.post("/timesheets/upload", content=body, headers=headers)


@pytest.mark.parametrize("form", ["object", "array", "lines"])
async def test_a_retry_under_its_key_stores_items_without_external_ids_once(
    api: Api, form: str
) -> None:
    items = [item(None)] if form == "object" else [item(None), item(None, project="Q")]
    first = await send(api, form, items, "upload-1")
    assert first.status_code == (201 if form == "object" else 200), first.text
    if form == "object":
        assert first.json()["upload_status"] == "created"
        assert first.headers["location"] == f"/timesheets/{first.json()['id']}"
    else:
        assert (first.json()["created"], first.json()["exists"]) == (2, 0)
    stored = {"entries": len(items), "audit_events": len(items), "idempotency_keys": 1}
    assert await api.row_counts() == stored

    again = await send(api, form, items, "upload-1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.headers.get("location") == first.headers.get("location")
    assert await api.row_counts() == stored

    # Without a key, the same items are stored again, as ever.
    plain = await send(api, form, items, None)
    assert plain.status_code == first.status_code, plain.text
    assert (await api.row_counts())["entries"] == 2 * len(items)


async def test_the_same_items_as_an_array_or_as_json_lines_are_one_body(api: Api) -> None:
    items = [item(None), item("row-1", project="Q")]
    first = await send(api, "array", items, "upload-1")
    assert first.status_code == 200, first.text
    as_lines = await send(api, "lines", items, "upload-1")
    assert (as_lines.status_code, as_lines.json()) == (200, first.json())
    # One item alone is answered with the entry, in a batch with its result: other bodies.
    alone = await send(api, "object", items[:1], "upload-2")
    assert alone.status_code == 201, alone.text
    before = await api.row_counts()
    as_batch = await send(api, "array", items[:1], "upload-2")
    assert (as_batch.status_code, as_batch.json()) == (422, REUSED)
    assert await api.row_counts() == before


@pytest.mark.parametrize("form", ["object", "array", "lines"])
async def test_another_body_under_a_used_key_is_422_and_stores_nothing(api: Api, form: str) -> None:
    items = [item(None)] if form == "object" else [item(None), item(None, project="Q")]
    first = await send(api, form, items, "upload-1")
    assert first.is_success, first.text
    before = await api.row_counts()
    for other in (
        [item(None, hours=3)],  # another entry
        [item(None, hours=25)],  # one the validation rejects
        [item("row-1")],  # one with an external id
        [item(None, project="R"), *items],  # one more
    ):
        for other_form in (form, "object" if form != "object" else "array"):
            refused = await send(api, other_form, other, "upload-1")
            assert (refused.status_code, refused.json()) == (422, REUSED), (other_form, other)
    assert await api.row_counts() == before


async def test_repeats_under_an_idempotency_key_are_replayed_whole(api: Api) -> None:
    items = [item("b", hours=20), item("a", hours=10), item("a", hours=2), item("a", hours=1)]
    first = await send(api, "array", items, "upload-1")
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["exists"], first.json()["rejected"]) == (2, 1, 1)
    assert await api.row_counts() == {"entries": 2, "audit_events": 2, "idempotency_keys": 1}
    again = await send(api, "array", items, "upload-1")
    assert (again.status_code, again.json()) == (200, first.json())
    assert await api.row_counts() == {"entries": 2, "audit_events": 2, "idempotency_keys": 1}


@pytest.mark.parametrize("key", ["", "k" * 201])
async def test_a_key_outside_1_to_200_characters_is_400_and_stores_nothing(
    api: Api, key: str
) -> None:
    for form, body in (("array", [item(None)]), ("object", [item(None)])):
        refused = await send(api, form, body, key)
        assert refused.status_code == 400, refused.text
        assert refused.json() == {"message": "Idempotency-Key must be 1 to 200 characters"}
    malformed = await api.http.post(
        "/timesheets/upload",
        content=b"[{",
        headers=api.auth() | {"Idempotency-Key": key, "Content-Type": "application/json"},
    )
    assert malformed.json() == {"message": "Idempotency-Key must be 1 to 200 characters"}
    assert await api.row_counts() == {"entries": 0, "audit_events": 0, "idempotency_keys": 0}
    accepted = await send(api, "object", [item(None)], "k" * 200)
    assert accepted.status_code == 201, accepted.text


async def test_a_rejected_entry_under_a_key_is_not_remembered(api: Api) -> None:
    # A refusal of the whole request (422) is not stored, as for a create: the key is free.
    invalid = await send(api, "object", [item(None, hours=25)], "upload-1")
    assert invalid.status_code == 422, invalid.text
    assert [error["field"] for error in invalid.json()["errors"]] == ["hours"]
    assert (await send(api, "object", [item(None, hours=8)], None)).status_code == 201
    over_the_day = await send(api, "object", [item(None, hours=20)], "upload-1")
    assert over_the_day.status_code == 422, over_the_day.text
    assert over_the_day.json()["errors"] == [
        {"field": "hours", "message": "more than 24 hours on 2026-03-02"}
    ]
    assert await api.row_counts() == {"entries": 1, "audit_events": 1, "idempotency_keys": 0}
    accepted = await send(api, "object", [item(None, hours=1)], "upload-1")
    assert accepted.status_code == 201, accepted.text
    replayed = await send(api, "object", [item(None, hours=1)], "upload-1")
    assert (replayed.status_code, replayed.json()) == (201, accepted.json())
    assert (await api.row_counts())["entries"] == 2


async def test_a_batch_whose_items_are_all_rejected_is_remembered_under_its_key(
    api: Api,
) -> None:
    items = [item(None, hours=25), "not an entry"]
    first = await send(api, "array", items, "upload-1")
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["rejected"]) == (0, 2)
    assert await api.row_counts() == {"entries": 0, "audit_events": 0, "idempotency_keys": 1}
    again = await send(api, "array", items, "upload-1")
    assert (again.status_code, again.json()) == (200, first.json())
    other = await send(api, "array", [item(None)], "upload-1")
    assert (other.status_code, other.json()) == (422, REUSED)
    assert (await api.row_counts())["entries"] == 0


async def test_a_key_is_the_subjects_for_one_request_on_either_endpoint(api: Api) -> None:
    body = item(None)  # a body both endpoints take
    created = await api.http.post(
        "/timesheets", json=body, headers=api.auth() | {"Idempotency-Key": "shared-1"}
    )
    assert created.status_code == 201, created.text
    before = await api.row_counts()
    for form, items in (("object", [body]), ("array", [body]), ("object", [item("row-1")])):
        reused = await send(api, form, items, "shared-1")
        assert (reused.status_code, reused.json()) == (422, REUSED), (form, items)
    assert await api.row_counts() == before

    uploaded = await send(api, "object", [body], "shared-2")
    assert uploaded.status_code == 201, uploaded.text
    before = await api.row_counts()
    for create_body in (body, SEED):
        reused = await api.http.post(
            "/timesheets", json=create_body, headers=api.auth() | {"Idempotency-Key": "shared-2"}
        )
        assert (reused.status_code, reused.json()) == (422, REUSED)
    assert await api.row_counts() == before

    # Another subject's key of the same name is another request.
    other = api.issuer.token(api.issuer.claims(client_id="other", sub="other@clients"))
    theirs = await api.http.post(
        "/timesheets/upload",
        json=body,
        headers=api.auth(other) | {"Idempotency-Key": "shared-1"},
    )
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["id"] not in (created.json()["id"], uploaded.json()["id"])
    assert (await api.row_counts())["idempotency_keys"] == 3


@pytest.mark.parametrize("form", ["object", "array"])
async def test_concurrent_uploads_under_one_key_store_one_set_of_entries(
    api: Api, form: str
) -> None:
    items = [item(None)] if form == "object" else [item(None), item(None, project="Q")]
    answers = await asyncio.gather(*[send(api, form, items, "race-1") for _ in range(8)])
    assert {answer.status_code for answer in answers} == {201 if form == "object" else 200}
    assert all(answer.json() == answers[0].json() for answer in answers)
    assert await api.row_counts() == {
        "entries": len(items),
        "audit_events": len(items),
        "idempotency_keys": 1,
    }
    # Different bodies racing under one key: one is stored, the others refused.
    racing = await asyncio.gather(
        *[send(api, form, [item(None, hours=h) for _ in items], "race-2") for h in (1, 2, 3, 4)]
    )
    success = 201 if form == "object" else 200
    assert sorted(r.status_code for r in racing) == sorted([success, 422, 422, 422])
    assert (await api.row_counts())["entries"] == 2 * len(items)
