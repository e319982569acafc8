"""GET /timesheets (filters, pages, stable order), GET and DELETE one entry, who sees what."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from tests.api.conftest import Api, serving
from tests.issuer import TestIssuer
from timesheets.settings import ApiSettings

PERSON_SCOPES = "read:timesheets create:timesheets delete:timesheets"
MANAGER_SCOPES = "read:timesheets create:timesheets approve:timesheets delete:timesheets"

ENTRY_FIELDS = {
    "id",
    "user_id",
    "user_name",
    "user_type",
    "project",
    "hours",
    "year",
    "week",
    "date",
    "description",
    "status",
    "approved",
    "rejection_reason",
    "decided_by",
    "decided_at",
    "created_by",
    "external_id",
    "created_at",
    "updated_at",
}


async def create(api: Api, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    """POST /timesheets, which must answer 201; the created entry."""
    response = await api.http.post("/timesheets", json=body, headers=api.auth(token))
    assert response.status_code == 201, response.text
    entry: dict[str, Any] = response.json()
    return entry


async def listed(api: Api, query: str = "", token: str | None = None) -> tuple[list[str], int]:
    """The ids GET /timesheets?query answers (200), in order, and its X-Total-Count."""
    response = await api.http.get(f"/timesheets?{query}", headers=api.auth(token))
    assert response.status_code == 200, f"{query}: {response.text}"
    return [entry["id"] for entry in response.json()], int(response.headers["x-total-count"])


async def test_filters_select_exactly_the_matching_entries(api: Api) -> None:
    bodies = [
        {"user_id": "u1", "project": "Alpha", "date": "2024-12-30", "hours": 8},
        {"user_id": "u1", "project": "Beta", "year": 2024, "week": 52, "hours": 5},
        {"user_id": "u2", "project": "Alpha", "date": "2025-01-06", "hours": 4},
        {"user_id": "u2", "project": "Beta", "date": "2024-12-29", "hours": 3},
        {"user_id": "u1", "project": "Alpha", "year": 2026, "week": 53, "hours": 2},
        {"user_id": "u3", "project": "Gamma", "date": "2025-01-01", "hours": 1.5},
    ]
    ids = [(await create(api, body))["id"] for body in bodies]
    e0, e1, e2, e3, e4, e5 = ids
    approve = await api.http.put(f"/approvals/{e2}", headers=api.auth())
    assert approve.status_code == 200, approve.text
    reject = await api.http.put(
        f"/approvals/{e3}", json={"decision": "reject", "reason": "no"}, headers=api.auth()
    )
    assert reject.status_code == 200, reject.text

    everything = await api.http.get("/timesheets", headers=api.auth())
    assert everything.status_code == 200
    assert everything.headers["x-total-count"] == "6"
    entries = everything.json()
    assert [entry["id"] for entry in entries] == ids
    assert set(entries[0]) == ENTRY_FIELDS
    assert (entries[0]["year"], entries[0]["week"], entries[0]["date"]) == (2025, 1, "2024-12-30")
    assert entries[1]["date"] is None
    assert entries[5]["hours"] == 1.5

    expectations = {
        "user_id=u1": [e0, e1, e4],
        "user_id=nobody": [],
        "project=Alpha": [e0, e2, e4],
        "project=alpha": [],
        "status=approved": [e2],
        "status=rejected": [e3],
        "status=submitted": [e0, e1, e4, e5],
        "from=2024-12-30": [e0, e2, e5],
        "to=2024-12-30": [e0, e3],
        "from=2025-01-01&to=2025-01-06": [e2, e5],
        "from=2025-01-07": [],
        "week_from=2025-W01": [e0, e2, e4, e5],
        "week_to=2024-W52": [e1, e3],
        "week_from=2025-W01&week_to=2025-W01": [e0, e5],
        "week_from=2026-W53": [e4],
        "week_from=2025-W02&week_to=2026-W52": [e2],
        "user_id=u1&project=Alpha&week_from=2025-W01": [e0, e4],
        "project=Alpha&status=submitted&from=2024-01-01": [e0],
        # The last week there is: its Sunday would be in the year 10000.
        "week_from=2026-W01&week_to=9999-W52": [e4],
        "user_id=u1&week_to=9999-W52": [e0, e1, e4],
    }
    for query, expected in expectations.items():
        assert await listed(api, query) == (expected, len(expected)), query


async def test_pages_are_stable_and_counted(api: Api) -> None:
    bodies = [
        {"user_id": f"u{i % 3}", "project": "P", "date": f"2026-03-{i + 1:02d}", "hours": 1}
        for i in range(7)
    ]
    created = [(await create(api, body))["id"] for body in bodies]
    # An upload stores several entries in one transaction, at the same instant.
    items = [
        {
            "external_id": f"x{i}",
            "user_id": "u9",
            "project": "P",
            "year": 2026,
            "week": 20,
            "hours": 1,
        }
        for i in range(5)
    ]
    upload = await api.http.post("/timesheets/upload", json=items, headers=api.auth())
    assert upload.json()["created"] == 5

    full = (await api.http.get("/timesheets?limit=200", headers=api.auth())).json()
    assert len(full) == 12
    assert [entry["id"] for entry in full[:7]] == created
    keys = [(datetime.fromisoformat(e["created_at"]), e["id"]) for e in full]
    assert keys == sorted(keys)
    order = [entry["id"] for entry in full]

    for size in (1, 5):
        paged: list[str] = []
        for offset in range(0, 12, size):
            page, total = await listed(api, f"limit={size}&offset={offset}")
            assert total == 12
            assert len(page) == min(size, 12 - offset)
            paged += page
        assert paged == order, size
    assert await listed(api, "offset=12") == ([], 12)
    assert await listed(api, "offset=1000&user_id=u9") == ([], 5)
    assert await listed(api, "limit=2&offset=1&user_id=u9") == (order[8:10], 5)
    default_page = (await api.http.get("/timesheets", headers=api.auth())).json()
    assert [entry["id"] for entry in default_page] == order


@pytest.mark.parametrize("path", ["/timesheets", "/approvals"])
async def test_both_lists_give_at_most_the_configured_page_size(
    path: str,
    issuer: TestIssuer,
    database_url: str,
    make_api_settings: Callable[..., ApiSettings],
) -> None:
    settings = make_api_settings(issuer, database_url, page_size_max=3)
    async with serving(issuer, settings) as api:
        created = [
            (
                await create(
                    api, {"user_id": f"u{i}", "project": "P", "year": 2026, "week": 9, "hours": 1}
                )
            )["id"]
            for i in range(5)
        ]

        async def page(query: str) -> tuple[list[str], str]:
            response = await api.http.get(f"{path}?{query}", headers=api.auth())
            assert response.status_code == 200, f"{query}: {response.text}"
            return [entry["id"] for entry in response.json()], response.headers["x-total-count"]

        assert await page("limit=200") == (created[:3], "5")
        assert await page("") == (created[:3], "5")
        assert await page("limit=4&offset=3") == (created[3:], "5")
        assert await page("limit=2&offset=1") == (created[1:3], "5")
        refused = await api.http.get(f"{path}?limit=201", headers=api.auth())
        assert refused.status_code == 422, refused.text
        assert [error["field"] for error in refused.json()["errors"]] == ["limit"]


BAD_QUERIES = [
    "limit=0",
    "limit=201",
    "limit=ten",
    "offset=-1",
    "status=pending",
    "status=APPROVED",
    "from=2024-13-01",
    "to=yesterday",
    "week_from=2024-W1",
    "week_from=2024W01",
    "week_to=2021-W53",
    "week_from=2025-W53",
    "week_from=2024-W00",
    "week_to=2026-W54",
    f"project={'p' * 201}",
    f"user_id={'u' * 101}",
    # PostgreSQL cannot compare a NUL: once a 503 to retry there.
    "user_id=%00",
    "project=a%00b",
]


async def test_bad_queries_are_422_naming_the_parameter(api: Api) -> None:
    for query in BAD_QUERIES:
        response = await api.http.get(f"/timesheets?{query}", headers=api.auth())
        assert response.status_code == 422, (query, response.text)
        name = query.split("=")[0]
        assert [error["field"] for error in response.json()["errors"]] == [name], query


async def test_people_see_their_own_entries_managers_and_machines_everyone(api: Api) -> None:
    alice = api.issuer.person("alice", PERSON_SCOPES)
    bob = api.issuer.person("bob", PERSON_SCOPES)
    mona = api.issuer.person("mona", MANAGER_SCOPES)
    own = await create(api, {"project": "P", "date": "2026-03-02", "hours": 8}, alice)
    assert (own["user_id"], own["created_by"]) == (
        "alice",
        {"subject": "alice", "client_id": "spa"},
    )
    bobs = await create(api, {"project": "P", "date": "2026-03-02", "hours": 8}, bob)
    machine = await create(
        api, {"user_id": "alice", "project": "Q", "year": 2026, "week": 10, "hours": 2}
    )
    assert machine["created_by"] == {"subject": "importer@clients", "client_id": "importer"}

    assert await listed(api, "", alice) == ([own["id"], machine["id"]], 2)
    assert await listed(api, "user_id=alice", alice) == ([own["id"], machine["id"]], 2)
    assert await listed(api, "user_id=bob", alice) == ([], 0)
    assert await listed(api, "project=P", alice) == ([own["id"]], 1)
    assert await listed(api, "", bob) == ([bobs["id"]], 1)
    everyone = [own["id"], bobs["id"], machine["id"]]
    assert await listed(api, "", mona) == (everyone, 3)
    assert await listed(api, "user_id=bob", mona) == ([bobs["id"]], 1)
    assert await listed(api, "") == (everyone, 3)

    mine = await api.http.get(f"/timesheets/{own['id']}", headers=api.auth(alice))
    assert mine.status_code == 200
    assert {k: v for k, v in own.items() if k != "message"} == mine.json()
    for path, token in [
        (f"/timesheets/{bobs['id']}", alice),
        (f"/timesheets/{own['id']}", bob),
        ("/timesheets/0123456789abcdef0123456789abcdef", alice),
        ("/timesheets/0123456789abcdef0123456789abcdef", None),
        ("/timesheets/not-an-id", mona),
    ]:
        response = await api.http.get(path, headers=api.auth(token))
        assert response.status_code == 404, (path, response.text)
        assert response.json() == {"message": "Timesheet not found"}
    for token in (mona, None):
        response = await api.http.get(f"/timesheets/{bobs['id']}", headers=api.auth(token))
        assert response.status_code == 200
        assert response.json()["user_id"] == "bob"

    unreadable = api.issuer.person("carol", "create:timesheets")
    refused = await api.http.get("/timesheets", headers=api.auth(unreadable))
    assert refused.status_code == 403
    assert 'scope="read:timesheets"' in refused.headers["www-authenticate"]
    assert (await api.http.get("/timesheets")).status_code == 401


async def test_delete_own_entries_never_approved_ones(api: Api) -> None:
    alice = api.issuer.person("alice", PERSON_SCOPES)
    bob = api.issuer.person("bob", PERSON_SCOPES)
    mona = api.issuer.person("mona", MANAGER_SCOPES)
    reader = api.issuer.person("alice", "read:timesheets create:timesheets")
    first = await create(api, {"project": "P", "date": "2026-03-02", "hours": 8}, alice)
    # Stored for alice by the machine client, which may delete what its client stored.
    second = await create(
        api, {"project": "P", "date": "2026-03-03", "hours": 8, "user_id": "alice"}
    )
    bobs = await create(api, {"project": "P", "date": "2026-03-02", "hours": 8}, bob)
    # Logged by alice through the machine's own client (one holding both grants).
    via_machine_client = await create(
        api,
        {"project": "P", "date": "2026-03-05", "hours": 8},
        api.issuer.token(
            api.issuer.claims(sub="alice", client_id="importer", gty=None, scope=PERSON_SCOPES)
        ),
    )
    approved = await create(
        api, {"project": "P", "date": "2026-03-04", "hours": 8, "user_id": "alice"}
    )
    assert (await api.http.put(f"/approvals/{approved['id']}", headers=api.auth(mona))).is_success

    before = await api.row_counts()
    refusals = [
        (f"/timesheets/{bobs['id']}", alice, 404),
        (f"/timesheets/{first['id']}", bob, 404),
        (f"/timesheets/{first['id']}", mona, 404),
        # A machine never deletes the hours a person logged themselves.
        (f"/timesheets/{first['id']}", None, 404),
        (f"/timesheets/{via_machine_client['id']}", None, 404),
        (f"/timesheets/{first['id']}", reader, 403),
        ("/timesheets/0123456789abcdef0123456789abcdef", alice, 404),
        (f"/timesheets/{approved['id']}", alice, 409),
        (f"/timesheets/{approved['id']}", None, 409),
    ]
    for path, token, status in refusals:
        response = await api.http.delete(path, headers=api.auth(token))
        assert response.status_code == status, (path, response.text)
    assert (await api.http.delete(f"/timesheets/{first['id']}")).status_code == 401
    assert await api.row_counts() == before

    deleted = await api.http.delete(f"/timesheets/{first['id']}", headers=api.auth(alice))
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = await api.http.get(f"/timesheets/{first['id']}", headers=api.auth(alice))
    assert gone.status_code == 404
    again = await api.http.delete(f"/timesheets/{first['id']}", headers=api.auth(alice))
    assert again.status_code == 404
    by_machine = await api.http.delete(f"/timesheets/{second['id']}", headers=api.auth())
    assert by_machine.status_code == 204
    counts = await api.row_counts()
    assert counts["entries"] == before["entries"] - 2
    assert counts["audit_events"] == before["audit_events"] + 2
    assert await listed(api, "", alice) == ([via_machine_client["id"], approved["id"]], 2)

    trail = await api.http.get(f"/timesheets/{first['id']}/audit", headers=api.auth(mona))
    assert trail.status_code == 200
    assert [(e["action"], e["subject"], e["client_id"]) for e in trail.json()] == [
        ("created", "alice", "spa"),
        ("deleted", "alice", "spa"),
    ]
    machine_trail = await api.http.get(f"/timesheets/{second['id']}/audit", headers=api.auth())
    last = machine_trail.json()[-1]
    assert (last["action"], last["subject"], last["client_id"]) == (
        "deleted",
        "importer@clients",
        "importer",
    )


async def test_an_entry_deleted_by_a_concurrent_request_is_404_to_the_others(api: Api) -> None:
    alice = api.issuer.person("alice", PERSON_SCOPES)
    entry = await create(api, {"project": "P", "date": "2026-03-02", "hours": 8}, alice)
    path = f"/timesheets/{entry['id']}"
    answers = await asyncio.gather(
        *[api.http.delete(path, headers=api.auth(alice)) for _ in range(6)]
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [204] + [404] * 5, [answer.text for answer in answers]
    assert {a.json()["message"] for a in answers if a.status_code == 404} == {"Timesheet not found"}
    trail = await api.http.get(f"{path}/audit", headers=api.auth())
    assert [event["action"] for event in trail.json()] == ["created", "deleted"]


@pytest.mark.parametrize(
    "entry_id",
    ["%00", "a%00b", "0123456789abcdef0123456789abcde%00", "0123456789ABCDEF0123456789ABCDEF", "1"],
)
async def test_what_is_no_entry_id_is_404_on_every_call_naming_one(api: Api, entry_id: str) -> None:
    """Looked up nowhere: a NUL was once a 503 to retry on PostgreSQL."""
    before = await api.row_counts()
    for method, path in [
        ("GET", f"/timesheets/{entry_id}"),
        ("DELETE", f"/timesheets/{entry_id}"),
        ("GET", f"/timesheets/{entry_id}/audit"),
        ("PUT", f"/approvals/{entry_id}"),
    ]:
        response = await api.http.request(method, path, headers=api.auth())
        assert response.status_code == 404, (method, path, response.text)
        assert response.json() == {"message": "Timesheet not found"}
    assert await api.row_counts() == before
