"""`/api/v2/keys/signing` and `/api/v2/logs`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.authserver.management.conftest import Management
from timesheets.bearer.jws import parse_compact


async def test_rotation_makes_the_next_key_sign(management: Management) -> None:
    token = await management.token()
    keys = (await management.call("GET", "keys/signing", token)).json()
    states = {key["kid"]: key["state"] for key in keys if key["alg"] == "RS256"}
    [next_kid] = [kid for kid, state in states.items() if state == "next"]
    assert all("d" not in key["public_jwk"] for key in keys)  # public parts only
    await management.server.tenant.next_keys_published(3600)

    rotated = await management.call("POST", "keys/signing/rotate", token, json={"alg": "RS256"})
    assert rotated.status_code == 200
    assert rotated.json()["current"] == next_kid
    fresh = await management.token(["read:signing_keys"])
    assert parse_compact(fresh, frozenset({"RS256"})).header["kid"] == next_kid
    after = (await management.call("GET", "keys/signing", fresh)).json()
    assert {k["kid"]: k["state"] for k in after}[next_kid] == "current"


async def test_rotation_of_an_unknown_algorithm_is_refused(management: Management) -> None:
    token = await management.token()
    before = await management.server.tenant.row_counts()
    answer = await management.call("POST", "keys/signing/rotate", token, json={"alg": "HS256"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "alg"
    assert await management.server.tenant.row_counts() == before


async def test_rotation_without_keys_or_of_a_next_key_just_published_is_409_unless_forced(
    management: Management,
) -> None:
    token = await management.token()
    await management.server.tenant.next_keys_published(0)
    before = await management.server.tenant.row_counts()
    keys = (await management.call("GET", "keys/signing", token)).json()
    refused = [
        ({"alg": "ES256", "force": True}, "alg", "no ES256 key signs"),
        ({"alg": "RS256"}, "force", "resource servers may not have fetched it yet"),
    ]
    for body, field, reason in refused:
        answer = await management.call("POST", "keys/signing/rotate", token, json=body)
        assert answer.status_code == 409, answer.text
        assert reason in answer.json()["message"]
        assert answer.json()["errors"] == [{"field": field, "message": answer.json()["message"]}]
    assert await management.server.tenant.row_counts() == before
    assert (await management.call("GET", "keys/signing", token)).json() == keys

    [next_kid] = [key["kid"] for key in keys if key["alg"] == "RS256" and key["state"] == "next"]
    forced = await management.call(
        "POST", "keys/signing/rotate", token, json={"alg": "RS256", "force": True}
    )
    assert forced.status_code == 200, forced.text
    assert forced.json()["current"] == next_kid


async def _logs(management: Management, token: str, **params: Any) -> list[dict[str, Any]]:
    answer = await management.call("GET", "logs", token, params=params)
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()
    return events


async def test_every_change_is_in_the_log_with_its_caller(management: Management) -> None:
    token = await management.token(name="Automation")
    [client] = [
        c
        for c in (await management.call("GET", "clients", token)).json()
        if c["name"] == "Automation"
    ]
    created = await management.call(
        "POST", "roles", token, json={"name": "Auditor", "description": "Reads the log"}
    )
    role_id = created.json()["id"]
    await management.call("PATCH", f"roles/{role_id}", token, json={"description": "Reads"})
    await management.call("DELETE", f"roles/{role_id}", token)

    everything = await _logs(management, token, actor=f"client:{client['client_id']}")
    mine = [e for e in everything if e["kind"] != "token.issued"]
    assert [e["kind"] for e in mine] == ["role.deleted", "role.updated", "role.created"]
    assert all(e["subject"] == "Auditor" for e in mine)
    assert mine[0]["request_id"]

    only = await _logs(management, token, kind="role.updated")
    assert [e["kind"] for e in only] == ["role.updated"]
    assert await _logs(management, token, since="2999-01-01T00:00:00") == []
    bad = await management.call("GET", "logs", token, params={"outcome": "maybe"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "outcome"


async def test_the_log_pages_newest_first_with_a_next_link(management: Management) -> None:
    token = await management.token()
    deadline = time.monotonic() + 20
    while len(await _logs(management, token, kind="token.issued")) < 1:
        assert time.monotonic() < deadline, "the token was never logged"
        await asyncio.sleep(0.05)
    answer = await management.call("GET", "logs", token, params={"limit": 2})
    first = answer.json()
    assert first[0]["id"] > first[1]["id"]
    link = answer.headers["link"]
    assert link.endswith('rel="next"')
    following = await management.http.get(
        link[1 : link.index(">")], headers={"Authorization": f"Bearer {token}"}
    )
    assert following.json()[0]["id"] < first[1]["id"]


@pytest.mark.parametrize("before_id", ["0", str(2**63), "-1"])
async def test_a_before_id_out_of_range_is_422_naming_it(
    management: Management, before_id: str
) -> None:
    token = await management.token(["read:logs"])
    answer = await management.call("GET", "logs", token, params={"before_id": before_id})
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["before_id"]
    largest = await management.call("GET", "logs", token, params={"before_id": str(2**63 - 1)})
    assert largest.status_code == 200, largest.text
