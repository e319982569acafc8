"""The signing keys page: every key with its state; rotation per algorithm."""

from __future__ import annotations

import re

from tests.authserver.console.conftest import Console
from timesheets.authserver.store import key_record, load_keys


def _states(page: str) -> dict[str, str]:
    rows = re.findall(
        r"<code>([^<]+)</code></th>\s*<td>RS256</td>\s*<td><span class=\"state state-(\w+)\"", page
    )
    return dict(rows)


async def test_rotation_promotes_the_next_key_and_an_unknown_algorithm_is_refused(
    console: Console,
) -> None:
    before = await console.server.tenant.row_counts()
    answer = await console.admin.post("/admin/keys/rotate", {"alg": "HS256"})
    assert answer.status_code == 400
    assert "alg must be one of" in answer.text
    await console.unchanged(before)
    page = await console.admin.page("/admin/keys")
    before = _states(page)
    assert sorted(before.values()) == ["current", "next"]
    assert "Rotate RS256" in page
    await console.server.tenant.next_keys_published(3600)
    rotated = await console.admin.post("/admin/keys/rotate", {"alg": "RS256"})
    assert rotated.headers["location"] == "/admin/keys"
    page = await console.admin.page("/admin/keys")
    assert "RS256 rotated" in page
    after = _states(page)
    promoted = next(kid for kid, state in before.items() if state == "next")
    demoted = next(kid for kid, state in before.items() if state == "current")
    assert after[promoted] == "current"
    assert after[demoted] == "previous"
    assert sorted(after.values()) == ["current", "next", "previous"]
    now = console.server.tenant.runtime.now()
    rows = await console.server.tenant.run(load_keys)
    assert {r.kid: key_record(r).state(now) for r in rows if r.alg == "RS256"} == after
    [event] = await console.audited("key.rotated")
    assert event["details"]["promoted"] == promoted


async def test_rotation_without_keys_or_of_a_next_key_just_published_is_refused(
    console: Console,
) -> None:
    """The console does not force: a key published just now waits, the page says why."""
    await console.server.tenant.next_keys_published(0)
    before = await console.server.tenant.row_counts()
    states = _states(await console.admin.page("/admin/keys"))
    refused = {
        "ES256": "no ES256 key signs yet",
        "RS256": "resource servers may not have fetched it yet",
    }
    for alg, reason in refused.items():
        answer = await console.admin.post("/admin/keys/rotate", {"alg": alg, "force": "on"})
        assert answer.status_code == 409, alg
        assert reason in answer.text
        await console.unchanged(before)
    assert _states(await console.admin.page("/admin/keys")) == states
