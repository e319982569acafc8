"""Edit forms carry the version of what they show: a save against another version (or none)
is refused with 409, the form shown again with what was typed, and nothing changed."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute

from tests.authserver.conftest import AUDIENCE
from tests.authserver.console.conftest import VERSION, Console, form_of, version_of
from tests.authserver.management.conftest import Management
from timesheets.authserver import admin, people
from timesheets.authserver.console import ROUTERS as CONSOLE_ROUTERS
from timesheets.authserver.console.access import PATH as ACCESS
from timesheets.authserver.console.versions import STALE, role_by_id
from timesheets.authserver.management import views


@dataclass(frozen=True)
class Ids:
    """What the forms edit, and how to change it elsewhere meanwhile."""

    console: Console
    management: Management
    token: str
    api_id: str
    client_id: str
    grant_id: int
    other_client_id: str
    user_id: str
    role_id: str

    def path(self, route: str) -> str:
        """A route's path for these objects."""
        return route.format(
            api_id=self.api_id,
            client_id=self.client_id,
            grant_id=self.grant_id,
            user_id=self.user_id,
            role_id=self.role_id,
        )

    async def patch(self, path: str, body: dict[str, Any]) -> None:
        """A change through the management API."""
        answer = await self.management.call("PATCH", path, self.token, json=body)
        assert answer.status_code == 200, answer.text


Elsewhere = Callable[[Ids], Awaitable[None]]
Stored = Callable[[Any, Ids], Awaitable[Any]]


@dataclass(frozen=True)
class Edit:
    """A versioned form: where it is, what is typed into it, a change made elsewhere in the
    meantime, how to read what it edits, and whether a save applied what was typed."""

    page: str
    typed: dict[str, str | list[str]]
    kept: str  # a pattern of the form that only matches with what was typed in it
    elsewhere: Elsewhere
    stored: Stored
    applied: Callable[[Any], bool]
    etag: str = ""  # the management API's resource whose ETag is the form's version


async def _api(session: Any, ids: Ids) -> dict[str, Any]:
    return views.resource_server(await admin.api_by_id(session, ids.api_id))


async def _client(session: Any, ids: Ids) -> dict[str, Any]:
    return views.client(await admin.find_client(session, ids.client_id))


async def _grants(client_id: str, session: Any) -> list[dict[str, Any]]:
    return [
        views.client_grant(grant, api.identifier)
        for _c, api, grant in await admin.list_grants(session, client_id)
    ]


async def _user(session: Any, ids: Ids) -> dict[str, Any]:
    return await views.user(session, await people.find_user(session, ids.user_id))


async def _role(session: Any, ids: Ids) -> dict[str, Any]:
    return await views.role(session, await role_by_id(session, ids.role_id))


async def _console_edit(ids: Ids, route: str, form: dict[str, Any], page: str = "") -> None:
    """A change through the console (another tab of the same administrator)."""
    answer = await ids.console.admin.edit(ids.path(route), form, on=ids.path(page or route))
    assert answer.status_code == 303, answer.text


#: Every versioned form, by the route it posts to.
EDITS: dict[str, Edit] = {
    "/admin/apis/{api_id}": Edit(
        page="/admin/apis/{api_id}",
        typed={"name": "Typed API", "token_lifetime": "900"},
        kept='value="Typed API"',
        elsewhere=lambda ids: ids.patch(f"resource-servers/{ids.api_id}", {"name": "Elsewhere"}),
        stored=_api,
        applied=lambda api: (api["name"], api["token_lifetime"]) == ("Typed API", 900),
        etag="resource-servers/{api_id}",
    ),
    "/admin/apis/{api_id}/scopes": Edit(
        page="/admin/apis/{api_id}",
        typed={"value": "typed:scope", "description": "Typed"},
        kept='value="typed:scope"',
        elsewhere=lambda ids: _console_edit(
            ids, "/admin/apis/{api_id}", {"name": "In the console", "token_lifetime": "600"}
        ),
        stored=_api,
        applied=lambda api: "typed:scope" in [s["value"] for s in api["scopes"]],
        etag="resource-servers/{api_id}",
    ),
    "/admin/applications/{client_id}": Edit(
        page="/admin/applications/{client_id}",
        typed={
            "name": "Typed app",
            "enabled": "on",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
        },
        kept='value="Typed app"',
        elsewhere=lambda ids: ids.patch(f"clients/{ids.client_id}", {"name": "Elsewhere"}),
        stored=_client,
        applied=lambda client: client["name"] == "Typed app",
        etag="clients/{client_id}",
    ),
    ACCESS: Edit(
        page=ACCESS,
        typed={"scopes": ["batch:upload"]},
        kept=r'value="batch:upload"\s+checked',
        elsewhere=lambda ids: ids.patch(
            f"client-grants/{ids.grant_id}", {"scope": ["create:timesheets"]}
        ),
        stored=lambda session, ids: _grants(ids.client_id, session),
        applied=lambda grants: [g["scope"] for g in grants] == [["batch:upload"]],
        etag="client-grants/{grant_id}",
    ),
    "/admin/users/{user_id}": Edit(
        page="/admin/users/{user_id}",
        typed={"name": "Typed Erin", "user_type": "Contractor"},
        kept='value="Typed Erin"',
        elsewhere=lambda ids: ids.patch(f"users/{ids.user_id}", {"name": "Elsewhere"}),
        stored=_user,
        applied=lambda user: (user["name"], user["user_type"]) == ("Typed Erin", "Contractor"),
        etag="users/{user_id}",
    ),
    "/admin/users/{user_id}/roles": Edit(
        page="/admin/users/{user_id}",
        typed={"role": "Admin"},
        kept='<option value="Admin" selected>',
        elsewhere=lambda ids: ids.patch(f"users/{ids.user_id}", {"user_type": "Employee"}),
        stored=_user,
        applied=lambda user: user["roles"] == ["Admin", "Employee"],
        etag="users/{user_id}",
    ),
    "/admin/roles/{role_id}": Edit(
        page="/admin/roles/{role_id}",
        typed={"name": "Typed role", "description": "Typed"},
        kept='value="Typed role"',
        elsewhere=lambda ids: ids.patch(f"roles/{ids.role_id}", {"description": "Elsewhere"}),
        stored=_role,
        applied=lambda role: role["name"] == "Typed role",
        etag="roles/{role_id}",
    ),
    "/admin/roles/{role_id}/permissions/{api_id}": Edit(
        page="/admin/roles/{role_id}",
        typed={"permissions": ["batch:upload"]},
        kept=r'value="batch:upload"\s+checked',
        elsewhere=lambda ids: _console_edit(
            ids,
            "/admin/roles/{role_id}/permissions/{api_id}",
            {"permissions": ["read:timesheets"]},
            page="/admin/roles/{role_id}",
        ),
        stored=_role,
        applied=lambda role: (
            role["permissions"]
            == [{"resource_server_identifier": AUDIENCE, "permission_name": "batch:upload"}]
        ),
        etag="roles/{role_id}",
    ),
}
#: The forms that make changes without a version, and why none is needed.
UNVERSIONED = {
    "/admin/login": "signing in",
    "/admin/logout": "signing out",
    "/admin/apis": "creates",
    "/admin/applications": "creates",
    "/admin/users": "creates",
    "/admin/roles": "creates",
    "/admin/apis/{api_id}/scopes/remove": "a button removing the scope it names",
    "/admin/apis/{api_id}/delete": "a button",
    "/admin/applications/{client_id}/rotate": "adds a secret, undoes nothing",
    "/admin/applications/{client_id}/delete": "a button",
    ACCESS + "/remove": "a button",
    "/admin/users/{user_id}/enabled": "a button naming the state it sets",
    "/admin/users/{user_id}/password": "sets a new secret, shows none",
    "/admin/users/{user_id}/roles/remove": "a button taking the role it names",
    "/admin/users/{user_id}/delete": "a button",
    "/admin/roles/{role_id}/delete": "a button",
    "/admin/keys/rotate": "a button",
}


def test_every_console_form_is_versioned_or_known_not_to_need_it() -> None:
    posted = {
        route.path
        for part in CONSOLE_ROUTERS
        for route in part.routes
        if isinstance(route, APIRoute) and "POST" in (route.methods or ())
    }
    assert not set(EDITS) & set(UNVERSIONED)
    assert posted == set(EDITS) | set(UNVERSIONED)


async def _ids(console: Console) -> Ids:
    api = (await console.server.tenant.create_api()).api
    client = await console.server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    other = await console.server.tenant.machine_client(name="Other Job")
    management = Management(console.server, console.server.url + "/api/v2/")

    async def find(session: Any) -> tuple[int, str, str]:
        [(_c, _a, grant)] = await admin.list_grants(session, client.client_id)
        erin = await people.find_user(session, "erin@abc.example")
        return grant.id, erin.id, str((await people.find_role(session, "Employee")).id)

    grant_id, user_id, role_id = await console.server.tenant.run(find)
    return Ids(
        console,
        management,
        await management.token(),
        api.id,
        client.client_id,
        grant_id,
        other.client_id,
        user_id,
        role_id,
    )


async def _stored(ids: Ids, edit: Edit) -> Any:
    """What the form edits, as stored."""

    async def work(session: Any) -> Any:
        return await edit.stored(session, ids)

    return await ids.console.server.tenant.run(work)


def _refused(answer: Any, action: str, edit: Edit) -> None:
    """A 409 that shows the form again with the message and what was typed in it."""
    assert answer.status_code == 409, (action, answer.status_code, answer.text)
    form = form_of(answer.text, action)
    assert f'<p class="form-error" role="alert">{STALE}</p>' in form, action
    assert re.search(edit.kept, form), (action, edit.kept)


async def test_a_save_after_another_change_or_without_a_version_is_refused(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await _ids(console)
    caplog.set_level(logging.INFO, logger="timesheets.authserver.console")
    for route, edit in EDITS.items():
        action, page_path = ids.path(route), ids.path(edit.page)
        page = await console.admin.page(page_path)
        shown = version_of(page, action)
        if edit.etag:  # one notion of version: the management API's ETag
            got = await ids.management.call("GET", ids.path(edit.etag), ids.token)
            assert got.headers["etag"] == shown, action
        await edit.elsewhere(ids)
        before = await _stored(ids, edit)
        counts = await console.server.tenant.row_counts()
        caplog.clear()

        stale = await console.admin.post(action, edit.typed | {"version": shown})
        _refused(stale, action, edit)
        again = await console.admin.post(
            action, edit.typed | {"version": version_of(stale.text, action)}
        )
        _refused(again, action, edit)  # the form shown again still carries what was seen
        unversioned = await console.admin.post(action, edit.typed)
        _refused(unversioned, action, edit)
        assert await _stored(ids, edit) == before
        await console.unchanged(counts)
        logged = [r for r in caplog.records if r.getMessage() == "console change refused"]
        assert [(getattr(r, "status", None), getattr(r, "reason", None)) for r in logged] == [
            (409, STALE)
        ] * 3, action

        saved = await console.admin.edit(action, edit.typed, on=page_path)
        assert saved.status_code == 303, (action, saved.text)
        after = await _stored(ids, edit)
        assert edit.applied(after), (action, after)


def _versioned(action: str) -> bool:
    """Whether `action` is the path of a versioned form's route."""
    return any(
        re.fullmatch(re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(route)), action) is not None
        for route in EDITS
    )


async def test_the_versioned_forms_and_only_they_carry_a_version(console: Console) -> None:
    ids = await _ids(console)
    pages = {ids.path(edit.page) for edit in EDITS.values()}
    pages |= {"/admin/apis/new", "/admin/applications/new", "/admin/users/new", "/admin/roles"}
    seen = set()
    for page_path in sorted(pages):
        page = await console.admin.page(page_path)
        for action in re.findall(r'<form method="post" action="([^"]+)"', page):
            carries = VERSION.search(form_of(page, action)) is not None
            assert carries == _versioned(action), (page_path, action)
            seen.add(action)
    assert {ids.path(route) for route in EDITS} <= seen


async def test_of_two_saves_racing_with_one_version_only_one_applies(console: Console) -> None:
    ids = await _ids(console)
    path = ACCESS.format(client_id=ids.other_client_id, api_id=ids.api_id)
    shown = version_of(await console.admin.page(path), path)
    answers = await asyncio.gather(
        *(
            console.admin.post(path, {"scopes": [scope], "version": shown})
            for scope in ("read:timesheets", "batch:upload")
        )
    )
    assert sorted(answer.status_code for answer in answers) == [303, 409]
    [winner] = [
        scopes
        for scopes, a in zip(("read:timesheets", "batch:upload"), answers, strict=True)
        if a.status_code == 303
    ]
    [loser] = [a for a in answers if a.status_code == 409]
    assert STALE in form_of(loser.text, path)
    grants = await console.server.tenant.run(lambda s: _grants(ids.other_client_id, s))
    assert [g["scope"] for g in grants] == [[winner]]
