"""The input catalogue (I01-I09) against the running API: every refusal stores nothing.

Each test is named with the catalogue ids it covers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.api.conftest import Api
from tests.api.seed import SEED
from tests.issuer import TestIssuer as Issuer
from tests.live import serve_in_thread
from timesheets.api.app import create_app
from timesheets.settings import ApiSettings

JSON = {"Content-Type": "application/json"}
WRITE_PATHS = ("/timesheets", "/timesheet", "/timesheets/upload")
MIB = 1024 * 1024


async def post_raw(api: Api, body: bytes | str, path: str = "/timesheets", **headers: str) -> Any:
    """POST a body exactly as given, as application/json unless told otherwise."""
    content = body.encode() if isinstance(body, str) else body
    return await api.http.post(path, content=content, headers=api.auth() | JSON | headers)


async def created(api: Api, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    """POST /timesheets, which must answer 201; the created entry."""
    response = await api.http.post("/timesheets", json=body, headers=api.auth(token))
    assert response.status_code == 201, response.text
    entry: dict[str, Any] = response.json()
    return entry


def refused_fields(response: Any) -> set[str]:
    """The fields a 422 names."""
    assert response.status_code == 422, response.text
    return {error["field"] for error in response.json()["errors"]}


async def test_I01_malformed_bodies_are_400_other_media_types_415(api: Api) -> None:
    seed = json.dumps(SEED)
    malformed = [
        b"",
        b"{",
        seed[:-1].encode(),
        b'{"user_id": "007",}',
        b"{'user_id': '007'}",
        b'{"hours": 5} {"hours": 6}',
        b"\xef\xbb\xbf" + seed.encode(),
        json.dumps(SEED | {"project": "Caf\u00e9"}, ensure_ascii=False).encode("latin-1"),
        seed.encode("utf-16"),
        b"\xff\xfe\xfd",
        seed.replace('"hours": 5', '"hours": 5, "hours": 6').encode(),
        seed.replace('"project": "StoreZero"', '"project": "A", "project": "A"').encode(),
        b"[" * 50_000 + b"]" * 50_000,
    ]
    other_types = [
        "text/plain",
        "text/json",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ]
    before = await api.row_counts()
    for path in WRITE_PATHS:
        for body in malformed:
            response = await post_raw(api, body, path)
            assert response.status_code == 400, (path, body[:40], response.text)
            assert response.json()["message"].startswith("Malformed JSON: "), response.text
        for media_type in other_types:
            response = await post_raw(api, seed, path, **{"Content-Type": media_type})
            assert response.status_code == 415, (path, media_type, response.text)
            assert response.json()["message"].startswith("Content-Type must be application/json")
    duplicate = await post_raw(api, seed.replace('"hours": 5', '"hours": 5, "hours": 5'))
    assert duplicate.json() == {"message": "Malformed JSON: member 'hours' appears twice"}
    bom = await post_raw(api, b"\xef\xbb\xbf" + seed.encode())
    assert bom.json() == {"message": "Malformed JSON: the body starts with a byte order mark"}
    assert await api.row_counts() == before

    # The media type may carry parameters and any case.
    for media_type in ("application/json; charset=utf-8", "Application/JSON"):
        ok = await post_raw(api, seed, **{"Content-Type": media_type})
        assert ok.status_code == 201, ok.text


async def test_I02_values_of_the_wrong_type_are_422(api: Api) -> None:
    day = {"user_id": "u", "project": "P", "hours": 1}
    wrong: list[tuple[dict[str, Any], str]] = [
        (SEED | {"year": "2017"}, "year"),
        (SEED | {"week": "23"}, "week"),
        (SEED | {"year": True}, "year"),
        (SEED | {"week": False}, "week"),
        (SEED | {"year": 2017.0}, "year"),
        (SEED | {"week": 23.5}, "week"),
        (SEED | {"year": [2017]}, "year"),
        (SEED | {"week": {"n": 23}}, "week"),
        (SEED | {"hours": "5"}, "hours"),
        (SEED | {"hours": "5.5"}, "hours"),
        (SEED | {"hours": False}, "hours"),
        (SEED | {"hours": None}, "hours"),
        (SEED | {"hours": [5]}, "hours"),
        (SEED | {"hours": {"$gt": 0}}, "hours"),
        (SEED | {"user_type": 1}, "user_type"),
        (SEED | {"user_type": True}, "user_type"),
        (SEED | {"user_type": "employee"}, "user_type"),
        (SEED | {"user_id": 7}, "user_id"),
        (SEED | {"user_id": True}, "user_id"),
        (SEED | {"project": 5}, "project"),
        (SEED | {"project": None}, "project"),
        (SEED | {"project": ["StoreZero"]}, "project"),
        (SEED | {"description": 5}, "description"),
        (day | {"date": 20241230}, "date"),
        (day | {"date": True}, "date"),
        (day | {"date": "30/12/2024"}, "date"),
        (day | {"date": "2024-12-30T09:00:00"}, "date"),
    ]
    before = await api.row_counts()
    for body, field in wrong:
        response = await post_raw(api, json.dumps(body))
        assert refused_fields(response) == {field}, (body, response.text)
    for body_text in ("[]", "[{}]", '"entry"', "5", "null", "true", "{}"):
        response = await post_raw(api, body_text)
        assert response.status_code == 422, (body_text, response.text)
        assert response.json()["message"] == "Invalid timesheet"
    assert await api.row_counts() == before


async def test_I03_hours_out_of_range_and_over_the_caps_are_422(api: Api) -> None:
    before = await api.row_counts()
    # A week's entry (the seed's body): at most 168 hours.
    for hours in ("-1", "-0", "-0.0", "0", "0.0", "-24", "168.01", "169", "7.123", "0.001"):
        body = json.dumps(SEED).replace('"hours": 5', f'"hours": {hours}')
        response = await post_raw(api, body)
        assert refused_fields(response) == {"hours"}, (hours, response.text)
    # A day's entry: at most 24 hours.
    for hours in ("24.01", "25", "168"):
        body = json.dumps({"date": "2026-03-10", "project": "P", "hours": 1, "user_id": "d"})
        response = await post_raw(api, body.replace('"hours": 1', f'"hours": {hours}'))
        assert refused_fields(response) == {"hours"}, (hours, response.text)
    assert await api.row_counts() == before

    # At most 24 hours on one date, across entries.
    day = {"user_id": "day", "project": "P", "date": "2026-03-11"}
    await created(api, day | {"hours": 16})
    before = await api.row_counts()
    over_the_day = await api.http.post(
        "/timesheets", json=day | {"hours": 8.01}, headers=api.auth()
    )
    assert over_the_day.status_code == 422
    assert over_the_day.json()["errors"] == [
        {"field": "hours", "message": "more than 24 hours on 2026-03-11"}
    ]
    assert await api.row_counts() == before
    await created(api, day | {"hours": 8, "project": "Q"})
    assert (
        await api.http.post("/timesheets", json=day | {"hours": 0.01}, headers=api.auth())
    ).status_code == 422

    # At most 168 hours in an ISO week: 7 x 24 is fine, one hundredth more is not.
    for number in range(2, 9):
        await created(
            api, {"user_id": "week", "project": "P", "date": f"2026-03-{number:02d}", "hours": 24}
        )
    before = await api.row_counts()
    for extra in (
        {"year": 2026, "week": 10, "hours": 0.01},
        {"date": "2026-03-05", "hours": 0.01},
    ):
        response = await api.http.post(
            "/timesheets", json={"user_id": "week", "project": "P"} | extra, headers=api.auth()
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "hours"
    week_only = await api.http.post(
        "/timesheets",
        json={"user_id": "week", "project": "P", "year": 2026, "week": 10, "hours": 1},
        headers=api.auth(),
    )
    assert week_only.json()["errors"] == [
        {"field": "hours", "message": "more than 168 hours in ISO week 2026-W10"}
    ]
    assert await api.row_counts() == before
    # The caps are per person and per week.
    await created(
        api, {"user_id": "someone else", "project": "P", "year": 2026, "week": 10, "hours": 24}
    )
    await created(api, {"user_id": "week", "project": "P", "date": "2026-03-09", "hours": 24})


@asynccontextmanager
async def serve_api(settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The API with these settings on loopback, and a client for it."""
    live = serve_in_thread(create_app(settings), settings.port)
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
            yield http
    finally:
        live.stop()


async def test_I03_weekly_caps_follow_the_user_type(
    issuer: Issuer, database_url: str, make_api_settings: Callable[..., ApiSettings]
) -> None:
    settings = make_api_settings(
        issuer, database_url, weekly_cap_employee=60, weekly_cap_contractor=37.5
    )
    auth = {"Authorization": f"Bearer {issuer.token()}"}
    async with serve_api(settings) as http:

        async def post(user_type: str, user_id: str, hours: float) -> httpx.Response:
            body = {
                "user_type": user_type,
                "user_id": user_id,
                "project": "P",
                "year": 2026,
                "week": 10,
                "hours": hours,
            }
            return await http.post("/timesheets", json=body, headers=auth)

        # One week's entry past the contractors' cap.
        alone = await post("Contractor", "c0", 40)
        assert alone.status_code == 422
        assert alone.json()["errors"] == [
            {"field": "hours", "message": "more than 37.5 hours in ISO week 2026-W10"}
        ]
        for hours in (24, 13.5):
            assert (await post("Contractor", "c1", hours)).status_code == 201
        contractor_over = await post("Contractor", "c1", 0.01)
        assert contractor_over.status_code == 422
        assert contractor_over.json()["errors"] == [
            {"field": "hours", "message": "more than 37.5 hours in ISO week 2026-W10"}
        ]
        for hours in (24, 24, 12):
            assert (await post("Employee", "e1", hours)).status_code == 201
        employee_over = await post("Employee", "e1", 0.01)
        assert employee_over.json()["errors"] == [
            {"field": "hours", "message": "more than 60 hours in ISO week 2026-W10"}
        ]
        # Upload items obey the same caps.
        upload = await http.post(
            "/timesheets/upload",
            json=[
                {
                    "user_type": "Contractor",
                    "user_id": "c2",
                    "project": "P",
                    "year": 2026,
                    "week": 10,
                    "hours": hours,
                    "external_id": f"c2-{i}",
                }
                for i, hours in enumerate((20, 17.5, 0.01))
            ],
            headers=auth,
        )
        assert [r["status"] for r in upload.json()["items"]] == ["created", "created", "rejected"]
        listed = await http.get("/timesheets", headers=auth)
        assert listed.headers["x-total-count"] == "7"


async def test_I04_iso_weeks_exist_or_are_refused(api: Api) -> None:
    before = await api.row_counts()
    for year, week in [(2021, 53), (2025, 53), (2024, 53), (2024, 0), (2026, 54), (2020, 54)]:
        response = await api.http.post(
            "/timesheets", json=SEED | {"year": year, "week": week}, headers=api.auth()
        )
        assert response.status_code == 422, (year, week, response.text)
    day = {"user_id": "u", "project": "P", "hours": 1, "date": "2024-12-30"}
    mismatch = (
        "date 2024-12-30 is in ISO week 2025-W01; year and week sent with a date must be its own"
    )
    missing = "give either date, or year and week"
    # A week-level refusal names the field to fix; a date fixes the week, so a year or
    # week that disagrees with it is refused as the date's.
    refusals: list[tuple[dict[str, Any], list[dict[str, str]]]] = [
        (SEED | {"week": 53}, [{"field": "week", "message": "ISO year 2017 has weeks 1 to 52"}]),
        (
            SEED | {"year": 2021, "week": 53},
            [{"field": "week", "message": "ISO year 2021 has weeks 1 to 52"}],
        ),
        ({k: v for k, v in SEED.items() if k != "week"}, [{"field": "week", "message": missing}]),
        ({k: v for k, v in SEED.items() if k != "year"}, [{"field": "year", "message": missing}]),
        (
            {k: v for k, v in day.items() if k != "date"},
            [{"field": "year", "message": missing}, {"field": "week", "message": missing}],
        ),
        (day | {"year": 2024, "week": 53}, [{"field": "date", "message": mismatch}]),
        (day | {"year": 2024}, [{"field": "date", "message": mismatch}]),
        (day | {"week": 52}, [{"field": "date", "message": mismatch}]),
    ]
    for body, errors in refusals:
        for path in ("/timesheets", "/timesheet"):
            response = await api.http.post(path, json=body, headers=api.auth())
            assert response.status_code == 422, (path, body, response.text)
            assert response.json()["errors"] == errors, (path, body)
    upload = await api.http.post(
        "/timesheets/upload",
        json=[body | {"external_id": f"row-{n}"} for n, (body, _) in enumerate(refusals)],
        headers=api.auth(),
    )
    assert upload.status_code == 200, upload.text
    assert [(r["status"], r["errors"]) for r in upload.json()["items"]] == [
        ("rejected", errors) for _, errors in refusals
    ]
    for query in (
        "week_from=2024-W1",
        "week_to=2024-W1",
        "week_from=2021-W53",
        "week_to=2025-W53",
        "week_from=2024-W00",
        "week_from=2026-W54",
    ):
        response = await api.http.get(f"/timesheets?{query}", headers=api.auth())
        assert response.status_code == 422, (query, response.text)
    assert await api.row_counts() == before

    long_2020 = await created(api, SEED | {"year": 2020, "week": 53})
    long_2026 = await created(api, SEED | {"year": 2026, "week": 53})
    assert (long_2020["year"], long_2020["week"], long_2026["week"]) == (2020, 53, 53)
    new_year = await created(
        api, {"user_id": "u", "project": "P", "hours": 1, "date": "2024-12-30"}
    )
    assert (new_year["year"], new_year["week"], new_year["date"]) == (2025, 1, "2024-12-30")
    same = await created(
        api,
        {"user_id": "u", "project": "P", "hours": 1, "date": "2024-12-31", "year": 2025, "week": 1},
    )
    back = await created(api, {"user_id": "u", "project": "P", "hours": 1, "date": "2021-01-03"})
    assert (back["year"], back["week"]) == (2020, 53)

    async def ids(query: str) -> list[str]:
        response = await api.http.get(f"/timesheets?{query}", headers=api.auth())
        assert response.status_code == 200, response.text
        return [entry["id"] for entry in response.json()]

    assert await ids("week_from=2025-W01&week_to=2025-W01") == [new_year["id"], same["id"]]
    assert await ids("week_from=2020-W53&week_to=2020-W53") == [long_2020["id"], back["id"]]
    assert await ids("week_from=2026-W53") == [long_2026["id"]]


async def chunks(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A body sent with chunked transfer encoding (no Content-Length)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def padded(entry: dict[str, Any], length: int) -> bytes:
    """A JSON body of exactly `length` bytes (whitespace after the value)."""
    text = json.dumps(entry).encode()
    return text + b" " * (length - len(text))


async def test_I05_bodies_over_a_mebibyte_and_batches_over_the_limit_are_413(api: Api) -> None:
    assert api.settings.max_body_bytes == MIB
    assert api.settings.max_batch_items == 1000
    before = await api.row_counts()
    for path in WRITE_PATHS:
        declared = await post_raw(api, padded(SEED, MIB + 1), path)
        assert declared.status_code == 413, (path, declared.text)
        assert declared.json() == {"message": f"Request body exceeds {MIB} bytes"}
        streamed = await api.http.post(
            path, content=chunks(padded(SEED, MIB + 1)), headers=api.auth() | JSON
        )
        assert "content-length" not in streamed.request.headers
        assert streamed.request.headers["transfer-encoding"] == "chunked"
        assert streamed.status_code == 413, (path, streamed.text)
        much_larger = await api.http.post(
            path, content=chunks(padded(SEED, 3 * MIB)), headers=api.auth() | JSON
        )
        assert much_larger.status_code == 413
    too_many = [
        {"user_id": f"u{i}", "project": "P", "year": 2026, "week": 10, "hours": 1}
        for i in range(1001)
    ]
    as_array = await api.http.post("/timesheets/upload", json=too_many, headers=api.auth())
    assert as_array.status_code == 413
    assert as_array.json() == {"message": "A batch holds at most 1000 entries"}
    as_lines = await post_raw(
        api,
        "\n".join(json.dumps(item) for item in too_many),
        "/timesheets/upload",
        **{"Content-Type": "application/x-ndjson"},
    )
    assert as_lines.status_code == 413
    assert await api.row_counts() == before

    # Exactly the limit is accepted, declared or streamed.
    at_limit = await post_raw(api, padded(SEED, MIB))
    assert at_limit.status_code == 201, at_limit.text
    streamed_at_limit = await api.http.post(
        "/timesheets", content=chunks(padded(SEED | {"week": 24}, MIB)), headers=api.auth() | JSON
    )
    assert streamed_at_limit.status_code == 201, streamed_at_limit.text
    full_batch = await api.http.post("/timesheets/upload", json=too_many[:1000], headers=api.auth())
    assert full_batch.status_code == 200, full_batch.text
    assert full_batch.json()["created"] == 1000
    assert (await api.row_counts())["entries"] == before["entries"] + 1002


INJECTIONS = [
    "'; DROP TABLE entries; --",
    "Robert'); DROP TABLE audit_events;--",
    "1' OR '1'='1",
    "' UNION SELECT key, body FROM idempotency_keys --",
    '"; DELETE FROM entries WHERE "1"="1',
    "%' OR project LIKE '%",
    '{"$gt": ""}',
    '{"$where": "sleep(1000)"}',
    "[$ne]=1",
    "{{7*7}}",
    "${7*7}",
    "<%= 7*7 %>",
    "#{7*7}",
    "{% raw %}{{ config }}{% endraw %}",
    "<script>alert('x')</script>",
    '<img src=x onerror="alert(1)">',
    "javascript:alert(1)",
    "\\x00\\u0000 not a NUL",
    "%s%s%n%x",
    "../../../etc/passwd",
    "`rm -rf /`; $(reboot)",
    "  leading and trailing spaces  ",
    "line\nbreak\ttab\r\n",
]


async def test_I06_injection_strings_are_stored_and_returned_verbatim(api: Api) -> None:
    stored: dict[str, str] = {}
    for number, text in enumerate(INJECTIONS):
        body = {
            "user_id": text if len(text) <= 100 else f"u{number}",
            "project": text,
            "description": text,
            "year": 2026,
            "week": 10,
            "hours": 1,
        }
        response = await api.http.post("/timesheets", json=body, headers=api.auth())
        assert response.status_code == 201, (text, response.text)
        assert response.headers["content-type"] == "application/json"
        entry = json.loads(response.content)
        assert entry["project"].encode() == text.encode()
        assert entry["description"] == text
        assert entry["user_id"] == body["user_id"]
        stored[entry["id"]] = text
    counts = await api.row_counts()
    assert counts == {
        "entries": len(INJECTIONS),
        "audit_events": len(INJECTIONS),
        "idempotency_keys": 0,
    }

    for entry_id, text in stored.items():
        one = await api.http.get(f"/timesheets/{entry_id}", headers=api.auth())
        assert json.loads(one.content)["project"].encode() == text.encode()
        by_project = await api.http.get("/timesheets", params={"project": text}, headers=api.auth())
        assert by_project.status_code == 200, by_project.text
        assert [e["id"] for e in by_project.json()] == [entry_id], text
        if len(text) <= 100:
            by_user = await api.http.get(
                "/timesheets", params={"user_id": text}, headers=api.auth()
            )
            assert [e["id"] for e in by_user.json()] == [entry_id], text
    everything = await api.http.get("/timesheets", params={"limit": 200}, headers=api.auth())
    assert everything.headers["x-total-count"] == str(len(INJECTIONS))
    assert await api.row_counts() == counts


UNICODE = {
    "rtl": "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "rtl override": "abc\u202edcba\u202c",
    "arabic": "\u0645\u0631\u062d\u0628\u0627 123",
    "zero width space": "a\u200bb",
    "zero width joiner only": "\u200d",
    "zero width no-break space": "x\ufeffy",
    "nfc": "caf\u00e9",
    "nfd": "cafe\u0301",
    "emoji": "\U0001f600",
    "emoji zwj sequence": "\U0001f469\u200d\U0001f4bb",
    "flag": "\U0001f1eb\U0001f1f7",
    "skin tone": "\U0001f44d\U0001f3fd",
    "combining marks": "Z\u0351\u036b\u0343a\u0310l\u0352g\u036fo",
    "cjk": "\u65e5\u672c\u8a9e\u30c6\u30b9\u30c8",
    "astral plane": "\U00010348\U0001d11e",
}


async def test_I07_unicode_round_trips_exactly_and_unencodable_text_is_422(api: Api) -> None:
    before = await api.row_counts()
    template = '{"user_id": "u", "year": 2026, "week": 10, "hours": 1, "project": "%s"}'
    for escape in ("\\ud800", "\\udfff", "a\\ud83d", "\\ude00b", "\\u0000", "a\\u0000b"):
        response = await post_raw(api, template % escape)
        assert refused_fields(response) == {"project"}, (escape, response.text)
    for field in ("user_id", "description"):
        for escape in ("\\ud800", "\\u0000"):
            body = json.dumps(SEED | {field: "PLACEHOLDER"}).replace("PLACEHOLDER", escape)
            assert refused_fields(await post_raw(api, body)) == {field}, (field, escape)
    assert await api.row_counts() == before

    pair = await post_raw(api, template % "\\ud83c\\udf89")
    assert pair.status_code == 201, pair.text
    assert pair.json()["project"] == "\U0001f389"

    ids: dict[str, str] = {}
    for name, text in UNICODE.items():
        body = {
            "user_id": text,
            "project": text,
            "description": text,
            "year": 2026,
            "week": 11,
            "hours": 1,
        }
        # Sent once as raw UTF-8 and once with every non-ASCII character escaped.
        for ensure_ascii in (False, True):
            response = await post_raw(api, json.dumps(body, ensure_ascii=ensure_ascii))
            assert response.status_code == 201, (name, response.text)
            entry = response.json()
            assert entry["project"].encode() == text.encode(), name
            assert entry["user_id"].encode() == text.encode(), name
            assert entry["description"] == text, name
            ids.setdefault(name, entry["id"])
        stored = await api.http.get(f"/timesheets/{ids[name]}", headers=api.auth())
        assert stored.json()["project"].encode() == text.encode(), name

    for name, text in UNICODE.items():
        by_project = await api.http.get("/timesheets", params={"project": text}, headers=api.auth())
        found = by_project.json()
        assert len(found) == 2, name
        assert {entry["project"] for entry in found} == {text}, name
    # NFC and NFD spellings are different projects: nothing is normalised.
    nfc = await api.http.get("/timesheets", params={"project": UNICODE["nfc"]}, headers=api.auth())
    assert {entry["project"] for entry in nfc.json()} == {"caf\u00e9"}


async def test_I08_clients_cannot_set_state_or_reach_other_peoples_entries(api: Api) -> None:
    before = await api.row_counts()
    for member, value in [
        ("status", "approved"),
        ("approved", True),
        ("approved_by", "mona"),
        ("decided_by", "mona"),
        ("decided_at", "2026-01-01T00:00:00Z"),
        ("rejection_reason", None),
        ("id", "0123456789abcdef0123456789abcdef"),
        ("created_by", {"subject": "mona", "client_id": "spa"}),
        ("created_at", "2020-01-01T00:00:00Z"),
    ]:
        response = await api.http.post(
            "/timesheets", json=SEED | {member: value}, headers=api.auth()
        )
        assert response.status_code == 422, (member, response.text)
        assert response.json()["errors"] == [
            {"field": member, "message": "Extra inputs are not permitted"}
        ]
    alice = api.issuer.person("alice", "read:timesheets create:timesheets approve:timesheets")
    for_bob = await api.http.post(
        "/timesheets",
        json={"user_id": "bob", "project": "P", "date": "2026-03-02", "hours": 1},
        headers=api.auth(alice),
    )
    assert for_bob.status_code == 422
    assert for_bob.json()["errors"] == [
        {"field": "user_id", "message": "a person creates entries for themselves only"}
    ]
    assert await api.row_counts() == before

    own = await created(
        api, {"user_id": "alice", "project": "P", "date": "2026-03-02", "hours": 1}, alice
    )
    bob = api.issuer.person("bob", "read:timesheets create:timesheets delete:timesheets")
    bobs = await created(api, {"project": "P", "date": "2026-03-02", "hours": 1}, bob)
    before = await api.row_counts()
    self_approval = await api.http.put(f"/approvals/{own['id']}", headers=api.auth(alice))
    assert self_approval.status_code == 403
    self_rejection = await api.http.put(
        f"/approvals/{own['id']}",
        json={"decision": "reject", "reason": "oops"},
        headers=api.auth(alice),
    )
    assert self_rejection.status_code == 403
    for method in ("GET", "DELETE"):
        response = await api.http.request(method, f"/timesheets/{own['id']}", headers=api.auth(bob))
        assert response.status_code == 404, (method, response.text)
        assert response.json() == {"message": "Timesheet not found"}
    assert await api.row_counts() == before
    assert (await api.http.get(f"/timesheets/{own['id']}", headers=api.auth())).json()[
        "status"
    ] == "submitted"
    # Another manager may decide on alice's entry; alice may decide on bob's.
    assert (await api.http.put(f"/approvals/{bobs['id']}", headers=api.auth(alice))).is_success


async def test_I09_idempotency_key_stores_once_and_refuses_another_body(api: Api) -> None:
    headers = api.auth() | {"Idempotency-Key": "retry-1"}
    responses = await asyncio.gather(
        *[api.http.post("/timesheets", json=SEED, headers=headers) for _ in range(10)]
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert {r.headers["location"] for r in responses} == {
        f"/timesheets/{responses[0].json()['id']}"
    }
    assert await api.row_counts() == {"entries": 1, "audit_events": 1, "idempotency_keys": 1}

    # The same members in another order are the same body.
    reordered = json.dumps(dict(reversed(list(SEED.items()))))
    replay = await post_raw(api, reordered, **{"Idempotency-Key": "retry-1"})
    assert replay.status_code == 201
    assert replay.json() == responses[0].json()

    before = await api.row_counts()
    different = await api.http.post("/timesheets", json=SEED | {"hours": 6}, headers=headers)
    assert different.status_code == 422
    assert different.json() == {"message": "Idempotency-Key was already used with a different body"}
    for key in ("", "k" * 201):
        bad_key = await api.http.post(
            "/timesheets", json=SEED, headers=api.auth() | {"Idempotency-Key": key}
        )
        assert bad_key.status_code == 400, (key, bad_key.text)
    racing = await asyncio.gather(
        *[
            api.http.post(
                "/timesheets",
                json=SEED | {"hours": hours},
                headers=api.auth() | {"Idempotency-Key": "race"},
            )
            for hours in (1, 2, 3, 4)
        ]
    )
    assert sorted(r.status_code for r in racing) == [201, 422, 422, 422]
    after = await api.row_counts()
    assert after["entries"] == before["entries"] + 1
    assert after["idempotency_keys"] == before["idempotency_keys"] + 1

    # Keys belong to the caller: another person's same key is a new request.
    bob = api.issuer.person("bob", "create:timesheets")
    bobs = await api.http.post(
        "/timesheets",
        json={"project": "P", "year": 2017, "week": 23, "hours": 5},
        headers=api.auth(bob) | {"Idempotency-Key": "retry-1"},
    )
    assert bobs.status_code == 201
    assert bobs.json()["id"] != responses[0].json()["id"]
    assert bobs.json()["message"] == "Timesheet created for Employee: bob"
    # Without a key, the same body is a new entry each time.
    plain = await api.http.post("/timesheets", json=SEED, headers=api.auth())
    assert plain.json()["id"] != responses[0].json()["id"]
