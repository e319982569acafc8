"""No caller of the management API hands out more management power than it holds: each
refusal is 403 insufficient_scope naming the scopes, and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx

from tests.authserver.management.conftest import PASSWORD, Management
from timesheets.authserver import admin, people

EVERYTHING = sorted(admin.MANAGEMENT_SCOPES)


def _refused(answer: httpx.Response, *missing: str) -> None:
    assert answer.status_code == 403, answer.text
    challenge = answer.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert f'scope="{" ".join(sorted(missing))}"' in challenge


async def _refused_and_unchanged(management: Management, answer_of: Any, *missing: str) -> None:
    before = await management.server.tenant.row_counts()
    _refused(await answer_of(), *missing)
    assert await management.server.tenant.row_counts() == before


async def test_a_client_cannot_widen_a_management_grant(management: Management) -> None:
    client = await management.server.tenant.machine_client(
        {management.audience: ["read:client_grants", "update:client_grants"]}, name="Narrow"
    )
    answer = await client.request_token(management.http, management.audience)
    token = answer.json()["access_token"]
    found = await management.call("GET", f"client-grants?client_id={client.client_id}", token)
    path = f"client-grants/{found.json()[0]['id']}"
    wider = {"scope": EVERYTHING}
    missing = sorted(set(EVERYTHING) - {"read:client_grants", "update:client_grants"})
    await _refused_and_unchanged(
        management, lambda: management.call("PATCH", path, token, json=wider), *missing
    )
    assert (await management.call("GET", path, token)).json()["scope"] == [
        "read:client_grants",
        "update:client_grants",
    ]
    other = await management.token(["create:client_grants", "read:users"], name="Granter")
    target = await management.server.tenant.machine_client(name="Target")
    grant = {"client_id": target.client_id, "audience": management.audience}
    await _refused_and_unchanged(
        management,
        lambda: management.call("POST", "client-grants", other, json=grant | {"scope": EVERYTHING}),
        *sorted(set(EVERYTHING) - {"create:client_grants", "read:users"}),
    )
    held = await management.call(
        "POST", "client-grants", other, json=grant | {"scope": ["read:users"]}
    )
    assert held.status_code == 201, held.text


async def test_a_role_carries_only_management_scopes_the_caller_holds(
    management: Management,
) -> None:
    token = await management.token(["create:roles", "update:roles", "read:roles"])
    wanted = [{"resource_server_identifier": management.audience, "permission_name": "read:users"}]
    await _refused_and_unchanged(
        management,
        lambda: management.call(
            "POST", "roles", token, json={"name": "Reader", "permissions": wanted}
        ),
        "read:users",
    )
    created = await management.call("POST", "roles", token, json={"name": "Reader"})
    assert created.status_code == 201, created.text
    path = f"roles/{created.json()['id']}"
    await _refused_and_unchanged(
        management,
        lambda: management.call("POST", f"{path}/permissions", token, json={"permissions": wanted}),
        "read:users",
    )
    await _refused_and_unchanged(
        management,
        lambda: management.call("PATCH", path, token, json={"name": people.ADMIN_ROLE}),
        *sorted(set(EVERYTHING) - {"create:roles", "update:roles", "read:roles"}),
    )
    own = [{"resource_server_identifier": management.audience, "permission_name": "read:roles"}]
    added = await management.call("POST", f"{path}/permissions", token, json={"permissions": own})
    assert added.status_code == 200, added.text


async def _admin_and_plain_user(management: Management) -> tuple[str, str]:
    async def work(session: Any) -> tuple[str, str]:
        role = await people.create_role(session, people.ADMIN_ROLE)
        boss = await people.create_user(
            session, email="boss@abc.example", name="Boss", password=PASSWORD
        )
        await people.assign_role(session, boss.id, role.name)
        plain = await people.create_user(
            session, email="plain@abc.example", name="Plain", password=PASSWORD
        )
        await people.create_role(
            session, "User admin", permissions={management.audience: ["read:users"]}
        )
        return boss.id, plain.id

    ids: tuple[str, str] = await management.server.tenant.run(work)
    return ids


async def test_an_administrator_is_changed_only_by_a_caller_holding_everything(
    management: Management,
) -> None:
    boss, plain = await _admin_and_plain_user(management)
    held = ["read:users", "update:users"]
    token = await management.token(held)
    lacking = sorted(set(EVERYTHING) - set(held))
    for body in ({"password": "attacker chose this one"}, {"enabled": False}):
        await _refused_and_unchanged(
            management,
            lambda b=body: management.call("PATCH", f"users/{boss}", token, json=b),
            *lacking,
        )
    for roles in (["Nobody"], [people.ADMIN_ROLE]):
        await _refused_and_unchanged(
            management,
            lambda r=roles: management.call(
                "POST", f"users/{boss}/roles", token, json={"roles": r}
            ),
            *lacking,
        )
    await _refused_and_unchanged(
        management,
        lambda: management.call(
            "POST", f"users/{plain}/roles", token, json={"roles": [people.ADMIN_ROLE]}
        ),
        *lacking,
    )
    renamed = await management.call("PATCH", f"users/{boss}", token, json={"name": "Chief"})
    assert renamed.status_code == 200, renamed.text
    password = await management.call("PATCH", f"users/{plain}", token, json={"password": "x" * 20})
    assert password.status_code == 200, password.text
    given = await management.call(
        "POST", f"users/{plain}/roles", token, json={"roles": ["User admin"]}
    )
    assert given.status_code == 200, given.text
    everything = await management.token(EVERYTHING)
    for body, expected in (({"password": "the owner chose this"}, 200), ({"enabled": False}, 409)):
        answer = await management.call("PATCH", f"users/{boss}", everything, json=body)
        assert answer.status_code == expected, answer.text  # 409: the last administrator


async def test_a_person_with_more_management_scopes_is_not_the_callers(
    management: Management,
) -> None:
    _, plain = await _admin_and_plain_user(management)
    everything = await management.token(EVERYTHING)
    given = await management.call(
        "POST", f"users/{plain}/roles", everything, json={"roles": ["User admin"]}
    )
    assert given.status_code == 200, given.text
    token = await management.token(["update:users"])
    await _refused_and_unchanged(
        management,
        lambda: management.call("PATCH", f"users/{plain}", token, json={"password": "y" * 20}),
        "read:users",
    )


async def test_a_client_holding_more_is_not_the_callers_to_change(
    management: Management,
) -> None:
    strong = await management.server.tenant.machine_client(
        {management.audience: EVERYTHING}, name="Strong"
    )
    weak = await management.server.tenant.machine_client(name="Weak")
    token = await management.token(["read:clients", "update:clients"])
    lacking = sorted(set(EVERYTHING) - {"read:clients", "update:clients"})
    path = f"clients/{strong.client_id}"
    await _refused_and_unchanged(
        management,
        lambda: management.call("POST", f"{path}/rotate-secret", token, json={}),
        *lacking,
    )
    await _refused_and_unchanged(
        management, lambda: management.call("PATCH", path, token, json={"enabled": False}), *lacking
    )
    rotated = await management.call(
        "POST", f"clients/{weak.client_id}/rotate-secret", token, json={}
    )
    assert rotated.status_code == 200, rotated.text


async def test_a_test_client_needs_the_scopes_to_make_a_client_and_grant(
    management: Management,
) -> None:
    token = await management.token(["create:resource_servers"])
    body = {"name": "Reports", "identifier": "https://reports.abc.example"}
    await _refused_and_unchanged(
        management,
        lambda: management.call(
            "POST", "resource-servers", token, json=body | {"create_test_client": True}
        ),
        "create:client_grants",
        "create:clients",
    )
    plain = await management.call("POST", "resource-servers", token, json=body)
    assert plain.status_code == 201, plain.text
