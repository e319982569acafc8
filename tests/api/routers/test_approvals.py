"""GET /approvals, PUT /approvals/{id} and the audit trail of decisions."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api

MANAGER_SCOPES = "read:timesheets create:timesheets approve:timesheets"
PERSON_SCOPES = "read:timesheets create:timesheets delete:timesheets"


async def create(api: Api, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    """POST /timesheets, which must answer 201; the created entry."""
    response = await api.http.post("/timesheets", json=body, headers=api.auth(token))
    assert response.status_code == 201, response.text
    entry: dict[str, Any] = response.json()
    return entry


async def waiting(api: Api, token: str, query: str = "") -> tuple[list[str], int]:
    """The ids GET /approvals answers, in order, and its X-Total-Count."""
    response = await api.http.get(f"/approvals?{query}", headers=api.auth(token))
    assert response.status_code == 200, response.text
    return [entry["id"] for entry in response.json()], int(response.headers["x-total-count"])


async def trail(api: Api, entry_id: str, token: str) -> list[tuple[str, str, str]]:
    """(action, subject, client_id) of each audit event of an entry."""
    response = await api.http.get(f"/timesheets/{entry_id}/audit", headers=api.auth(token))
    assert response.status_code == 200, response.text
    return [(e["action"], e["subject"], e["client_id"]) for e in response.json()]


async def test_a_manager_approves_and_rejects_and_each_decision_is_final(api: Api) -> None:
    mona = api.issuer.person("mona", MANAGER_SCOPES)
    first, second, third, fourth = [
        (
            await create(
                api, {"user_id": "alice", "project": "P", "year": 2026, "week": w, "hours": 8}
            )
        )["id"]
        for w in (10, 11, 12, 13)
    ]
    assert await waiting(api, mona) == ([first, second, third, fourth], 4)
    assert await waiting(api, mona, "limit=2&offset=1") == ([second, third], 4)

    approved = await api.http.put(f"/approvals/{first}", headers=api.auth(mona))
    assert approved.status_code == 200, approved.text
    entry = approved.json()
    assert (entry["id"], entry["status"], entry["approved"]) == (first, "approved", True)
    assert (entry["decided_by"], entry["rejection_reason"]) == ("mona", None)
    assert entry["decided_at"] is not None
    assert entry["updated_at"] == entry["decided_at"]

    rejected = await api.http.put(
        f"/approvals/{second}",
        json={"decision": "reject", "reason": "wrong project"},
        headers=api.auth(mona),
    )
    assert rejected.status_code == 200, rejected.text
    entry = rejected.json()
    assert (entry["status"], entry["approved"]) == ("rejected", False)
    assert (entry["decided_by"], entry["rejection_reason"]) == ("mona", "wrong project")

    # An explicit approval, and an empty object, approve too.
    explicit = await api.http.put(
        f"/approvals/{third}", json={"decision": "approve"}, headers=api.auth(mona)
    )
    assert explicit.json()["status"] == "approved"
    empty_object = await api.http.put(f"/approvals/{fourth}", json={}, headers=api.auth())
    assert empty_object.json()["status"] == "approved"
    assert empty_object.json()["decided_by"] == "importer@clients"

    assert await waiting(api, mona) == ([], 0)
    stored = await api.http.get(f"/timesheets/{second}", headers=api.auth(mona))
    assert stored.json()["rejection_reason"] == "wrong project"

    before = await api.row_counts()
    for entry_id, body in [
        (first, None),
        (first, {"decision": "reject", "reason": "too late"}),
        (second, None),
        (second, {"decision": "reject", "reason": "again"}),
    ]:
        again = await api.http.put(f"/approvals/{entry_id}", json=body, headers=api.auth(mona))
        assert again.status_code == 409, again.text
        assert again.json() == {"message": "only a submitted entry can be approved or rejected"}
    assert await api.row_counts() == before
    assert (await api.http.get(f"/timesheets/{first}", headers=api.auth())).json()[
        "status"
    ] == "approved"

    assert await trail(api, first, mona) == [
        ("created", "importer@clients", "importer"),
        ("approved", "mona", "spa"),
    ]
    assert await trail(api, second, mona) == [
        ("created", "importer@clients", "importer"),
        ("rejected", "mona", "spa"),
    ]
    rejection = (await api.http.get(f"/timesheets/{second}/audit", headers=api.auth())).json()
    assert rejection[1]["detail"] == {"reason": "wrong project"}
    assert rejection[0]["detail"] == {}
    assert all(event["at"] for event in rejection)


async def test_an_approvals_reason_is_kept_in_the_trail_not_on_the_entry(api: Api) -> None:
    """A reason given with an approval is a note for the audit trail: the entry has no
    rejection reason."""
    mona = api.issuer.person("mona", MANAGER_SCOPES)
    body = {"user_id": "alice", "project": "P", "year": 2026, "week": 10, "hours": 8}
    entry_id = (await create(api, body))["id"]
    approved = await api.http.put(
        f"/approvals/{entry_id}",
        json={"decision": "approve", "reason": "checked against the rota"},
        headers=api.auth(mona),
    )
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["rejection_reason"]) == ("approved", None)
    events = (await api.http.get(f"/timesheets/{entry_id}/audit", headers=api.auth(mona))).json()
    assert [(e["action"], e["detail"]) for e in events] == [
        ("created", {}),
        ("approved", {"reason": "checked against the rota"}),
    ]


async def test_managers_see_who_logged_hours_by_the_name_their_token_gave(api: Api) -> None:
    """A person's entries keep the `name` of the token they logged them with; entries a
    machine stored for someone, and a token without a usable name, have none; machine
    tokens see no names."""
    mona = api.issuer.person("mona", MANAGER_SCOPES)
    alice = api.issuer.person("alice", PERSON_SCOPES, name="  Alice\x00\nNg\ud800 ")
    nameless = api.issuer.person("bob", PERSON_SCOPES, name=7)
    day = {"project": "P", "date": "2026-03-02", "hours": 8}
    alices = await create(api, day, alice)
    assert alices["user_name"] == "Alice Ng"
    bobs = await create(api, day, nameless)
    imported = await create(api, {"user_id": "cy", **day})
    machine_named = await create(
        api,
        {"user_id": "dee", **day},
        api.issuer.token(api.issuer.claims(name="Import job")),
    )
    assert bobs["user_name"] is imported["user_name"] is machine_named["user_name"] is None

    response = await api.http.get("/approvals", headers=api.auth(mona))
    assert response.status_code == 200, response.text
    assert [(e["user_id"], e["user_name"]) for e in response.json()] == [
        ("alice", "Alice Ng"),
        ("bob", None),
        ("cy", None),
        ("dee", None),
    ]
    decided = await api.http.put(f"/approvals/{alices['id']}", headers=api.auth(mona))
    assert decided.json()["user_name"] == "Alice Ng"
    stored = await api.http.get(f"/timesheets/{alices['id']}", headers=api.auth(alice))
    assert stored.json()["user_name"] == "Alice Ng"
    # Machine clients (payroll's export, say) read entries without their owners' names.
    by_machine = await api.http.get(f"/timesheets/{alices['id']}", headers=api.auth())
    assert (by_machine.status_code, by_machine.json()["user_name"]) == (200, None)
    listed = await api.http.get("/timesheets", headers=api.auth())
    assert [e["user_name"] for e in listed.json()] == [None, None, None, None]


async def test_refused_decisions_change_nothing(api: Api) -> None:
    mona = api.issuer.person("mona", MANAGER_SCOPES)
    alice = api.issuer.person("alice", PERSON_SCOPES)
    alices = (await create(api, {"project": "P", "date": "2026-03-02", "hours": 8}, alice))["id"]
    monas = (await create(api, {"project": "P", "date": "2026-03-02", "hours": 8}, mona))["id"]
    before = await api.row_counts()

    json_refusals: list[tuple[str, str, Any, int]] = [
        (alices, mona, {"decision": "reject"}, 422),
        (alices, mona, {"decision": "reject", "reason": ""}, 422),
        (alices, mona, {"decision": "reject", "reason": "   "}, 422),
        (alices, mona, {"decision": "maybe"}, 422),
        (alices, mona, {"status": "approved"}, 422),
        (alices, mona, {"approved_by": "mona"}, 422),
        (alices, mona, [], 422),
        (monas, mona, None, 403),
        (monas, mona, {"decision": "reject", "reason": "mine"}, 403),
        (alices, alice, None, 403),
        ("0123456789abcdef0123456789abcdef", mona, None, 404),
    ]
    for entry_id, token, body, status in json_refusals:
        response = await api.http.put(f"/approvals/{entry_id}", json=body, headers=api.auth(token))
        assert response.status_code == status, (body, response.text)
    self_decision = await api.http.put(f"/approvals/{monas}", headers=api.auth(mona))
    assert self_decision.json() == {"message": "You cannot decide on your own timesheet"}
    missing_reason = await api.http.put(
        f"/approvals/{alices}", json={"decision": "reject"}, headers=api.auth(mona)
    )
    assert missing_reason.json()["errors"] == [
        {"field": "reason", "message": "a rejection needs a reason"}
    ]

    raw_refusals = [
        (b'{"decision": "approve"', "application/json", 400),
        (b'{"decision": "approve", "decision": "reject"}', "application/json", 400),
        (b"\xef\xbb\xbf{}", "application/json", 400),
        (b"approve", "text/plain", 415),
    ]
    for content, media_type, status in raw_refusals:
        response = await api.http.put(
            f"/approvals/{alices}",
            content=content,
            headers=api.auth(mona) | {"Content-Type": media_type},
        )
        assert response.status_code == status, (content, response.text)
    assert (await api.http.put(f"/approvals/{alices}")).status_code == 401
    scopeless = await api.http.put(
        f"/approvals/{alices}", headers=api.auth(api.issuer.person("carol", "read:timesheets"))
    )
    assert scopeless.status_code == 403
    assert 'scope="approve:timesheets"' in scopeless.headers["www-authenticate"]
    for path in ("/approvals", f"/timesheets/{alices}/audit"):
        assert (await api.http.get(path, headers=api.auth(alice))).status_code == 403

    assert await api.row_counts() == before
    for entry_id in (alices, monas):
        entry = await api.http.get(f"/timesheets/{entry_id}", headers=api.auth(mona))
        assert (entry.json()["status"], entry.json()["decided_by"]) == ("submitted", None)
    assert await waiting(api, mona) == ([alices, monas], 2)
    unknown = await api.http.get(
        "/timesheets/0123456789abcdef0123456789abcdef/audit", headers=api.auth(mona)
    )
    assert unknown.status_code == 404

    # An empty body of any media type approves.
    approved = await api.http.put(
        f"/approvals/{alices}", content=b"", headers=api.auth(mona) | {"Content-Type": "text/plain"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"


async def test_a_rejected_entry_no_longer_counts_towards_the_caps(api: Api) -> None:
    mona = api.issuer.person("mona", MANAGER_SCOPES)
    alice = api.issuer.person("alice", PERSON_SCOPES)
    day = {"project": "P", "date": "2026-03-02"}
    full_day = await create(api, day | {"hours": 24}, alice)
    over = await api.http.post("/timesheets", json=day | {"hours": 1}, headers=api.auth(alice))
    assert over.status_code == 422
    rejected = await api.http.put(
        f"/approvals/{full_day['id']}",
        json={"decision": "reject", "reason": "a day has no 24 working hours"},
        headers=api.auth(mona),
    )
    assert rejected.status_code == 200
    again = await create(api, day | {"hours": 8}, alice)
    assert await waiting(api, mona) == ([again["id"]], 1)

    # Approved entries still count: 8 approved + 16 more fills the day, one more is refused.
    assert (await api.http.put(f"/approvals/{again['id']}", headers=api.auth(mona))).is_success
    await create(api, day | {"hours": 16}, alice)
    refused = await api.http.post(
        "/timesheets", json=day | {"hours": 0.01}, headers=api.auth(alice)
    )
    assert refused.status_code == 422
    # A rejected entry can be deleted; an approved one cannot.
    deleted = await api.http.delete(f"/timesheets/{full_day['id']}", headers=api.auth(alice))
    assert deleted.status_code == 204
    kept = await api.http.delete(f"/timesheets/{again['id']}", headers=api.auth(alice))
    assert kept.status_code == 409
    assert await trail(api, full_day["id"], mona) == [
        ("created", "alice", "spa"),
        ("rejected", "mona", "spa"),
        ("deleted", "alice", "spa"),
    ]


async def test_the_openapi_document_gives_the_decisions_optional_body(api: Api) -> None:
    document = (await api.http.get("/openapi.json")).json()
    put = document["paths"]["/approvals/{entry_id}"]["put"]
    assert put["requestBody"] == {
        "required": False,
        "description": "Empty to approve; `decision` and `reason` to reject.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Decision"}}},
    }
    schema = document["components"]["schemas"]["Decision"]
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert "required" not in schema
    assert schema["properties"]["decision"] == {
        "default": "approve",
        "enum": ["approve", "reject"],
        "title": "Decision",
        "type": "string",
    }
    assert schema["properties"]["reason"]["anyOf"] == [
        {"maxLength": 2000, "type": "string"},
        {"type": "null"},
    ]
    assert schema["if"] == {
        "properties": {"decision": {"const": "reject"}},
        "required": ["decision"],
    }
    assert schema["then"] == {"required": ["reason"], "properties": {"reason": {"type": "string"}}}
    assert {"413", "415", "422"} <= set(put["responses"])
