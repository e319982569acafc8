"""POST /timesheets/upload (one entry, an array, JSON Lines) and the legacy POST /timesheet."""

from __future__ import annotations

import json
from typing import Any

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
    assert again.headers["location"] == first.headers["location"]

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
    assert (await api.row_counts())["entries"] == 2
    stored = await api.http.get(f"/timesheets/{results[0]['id']}", headers=api.auth())
    assert stored.json()["hours"] == 1


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
