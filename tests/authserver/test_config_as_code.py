"""Config as code: apply a TOML-shaped document idempotently and export it without secrets.

Documents are plain dicts, as tomllib produces them. Every apply runs in one transaction,
so a refused item leaves nothing from the items before it. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import tomllib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from sqlalchemy import select

from tests.authserver.conftest import Tenant
from timesheets.authserver import admin, audit, config_as_code, people
from timesheets.authserver.app import create_runtime, prepare
from timesheets.authserver.models import Client, ClientSecret, ResourceServer, User
from timesheets.authserver.passwords import verify_password
from timesheets.settings import AuthServerSettings

API = "https://api.timesheets.test"
REPORTS = "https://reports.timesheets.test"
IMPORT_SECRET = "import-job-secret-from-the-environment-0123456789"
ERIN_PASSWORD = "erin-password-from-the-environment-42"
EMPTY = {
    "resource_servers": 0,
    "scopes": 0,
    "clients": 0,
    "client_secrets": 0,
    "client_grants": 0,
    "signing_keys": 2,
}
DOCUMENT: dict[str, Any] = {
    "apis": [
        {
            "name": "Timesheets API",
            "identifier": API,
            "token_lifetime": 900,
            "scopes": {
                "read:timesheets": "Read timesheets",
                "create:timesheets": "Create timesheets",
                "batch:upload": "Upload timesheets in batch",
            },
        },
        {
            "name": "Reports API",
            "identifier": REPORTS,
            "signing_alg": "HS256",
            "permissions_claim": True,
            "scopes": {"read:reports": "Read reports"},
        },
    ],
    "clients": [
        {
            "name": "Import Job",
            "type": "machine",
            "secret_env": "IMPORT_JOB_SECRET",
            "grants": [{"api": API, "scopes": ["create:timesheets", "batch:upload"]}],
        },
        {
            "name": "Report Job",
            "client_id": "report-job-0001",
            "token_endpoint_auth_method": "client_secret_basic",
            "grants": [
                {"api": REPORTS, "scopes": ["read:reports"]},
                {"api": API, "scopes": ["read:timesheets"]},
            ],
        },
        {
            "name": "Web App",
            "type": "spa",
            "client_id": "web-app-0001",
            "redirect_uris": ["https://app.timesheets.test/callback"],
            "web_origins": ["https://app.timesheets.test"],
        },
    ],
}
FULL = {
    "resource_servers": 2,
    "scopes": 4,
    "clients": 3,
    "client_secrets": 2,
    "client_grants": 3,
    "signing_keys": 2,
}


async def counts(tenant: Tenant) -> dict[str, int]:
    """Rows of the tables the tenant's rules write (other tables are not theirs)."""
    every = await tenant.row_counts()
    return {table: every[table] for table in EMPTY}


@pytest.fixture(autouse=True)
def import_job_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Import Job's secret comes from the environment, as secret_env says."""
    monkeypatch.setenv("IMPORT_JOB_SECRET", IMPORT_SECRET)
    monkeypatch.setenv("ERIN_PASSWORD", ERIN_PASSWORD)


@pytest.fixture
async def fresh_tenant(
    database_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_auth_settings: Callable[..., AuthServerSettings],
) -> AsyncIterator[Tenant]:
    """A second empty tenant in another database of the same kind as `tenant`'s."""
    if database_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    else:
        url = request.getfixturevalue("pg_server").new_database()
    runtime = create_runtime(make_auth_settings(url))
    await prepare(runtime)
    yield Tenant(runtime)
    await runtime.engine.dispose()


def document(**changes: Any) -> dict[str, Any]:
    """A deep copy of DOCUMENT to change."""
    copied = copy.deepcopy(DOCUMENT)
    copied.update(changes)
    return copied


async def apply(tenant: Tenant, doc: dict[str, Any]) -> config_as_code.ApplyReport:
    """Apply a document in one transaction."""
    return await tenant.run(lambda s: config_as_code.apply(s, tenant.runtime.sealer, doc))  # type: ignore[no-any-return]


async def export(tenant: Tenant) -> dict[str, Any]:
    """The tenant's exported document."""
    return await tenant.run(config_as_code.export)  # type: ignore[no-any-return]


async def refused(tenant: Tenant, doc: dict[str, Any]) -> str:
    """Apply a document that must be refused; prove nothing changed; the message."""
    rows_before, before = await tenant.row_counts(), await export(tenant)
    with pytest.raises(admin.TenantError) as caught:
        await apply(tenant, doc)
    assert await tenant.row_counts() == rows_before
    assert await export(tenant) == before
    return str(caught.value)


async def client_named(tenant: Tenant, name: str) -> Client:
    """A client as stored, with its secrets."""
    return await tenant.run(lambda s: admin.find_client(s, name))  # type: ignore[no-any-return]


async def grants_of(tenant: Tenant, name: str) -> dict[str, list[str]]:
    """A client's grants as {API identifier: scopes}."""
    rows = await tenant.run(lambda s: admin.list_grants(s, name))
    return {api.identifier: grant.scopes for _c, api, grant in rows}


def digest(secret: str) -> bytes:
    """SHA-256 of a secret, as the server stores it."""
    return hashlib.sha256(secret.encode()).digest()


def keys_of(value: Any) -> set[str]:
    """Every key of every table in a document."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


# -- apply -----------------------------------------------------------------------------


async def test_apply_creates_apis_clients_and_grants_and_reports_each(tenant: Tenant) -> None:
    report = await apply(tenant, DOCUMENT)
    assert report.changes == [
        f"created API {API}",
        f"created API {REPORTS}",
        "created client Import Job",
        f"granted Import Job batch:upload create:timesheets on {API}",
        "created client Report Job",
        f"granted Report Job read:reports on {REPORTS}",
        f"granted Report Job read:timesheets on {API}",
        "created client Web App",
    ]
    assert set(report.generated_secrets) == {REPORTS, "Report Job"}
    assert await counts(tenant) == FULL

    apis = {api.identifier: api for api in await tenant.run(admin.list_apis)}
    assert (apis[API].name, apis[API].signing_alg, apis[API].token_lifetime) == (
        "Timesheets API",
        "RS256",
        900,
    )
    assert apis[API].permissions_claim is False
    assert {s.value: s.description for s in apis[API].scopes} == DOCUMENT["apis"][0]["scopes"]
    assert (apis[REPORTS].signing_alg, apis[REPORTS].token_lifetime) == ("HS256", 3600)
    assert apis[REPORTS].permissions_claim is True
    sealed = apis[REPORTS].sealed_secret
    assert sealed is not None
    assert tenant.runtime.sealer.open(sealed, f"api-secret:{apis[REPORTS].id}") == (
        report.generated_secrets[REPORTS].encode()
    )

    report_job = await client_named(tenant, "Report Job")
    assert report_job.client_id == "report-job-0001"
    assert report_job.app_type == "machine"
    assert report_job.token_endpoint_auth_method == "client_secret_basic"
    assert [s.digest for s in report_job.secrets] == [
        digest(report.generated_secrets["Report Job"])
    ]
    web_app = await client_named(tenant, "web-app-0001")
    assert (web_app.name, web_app.app_type, web_app.token_endpoint_auth_method) == (
        "Web App",
        "spa",
        "none",
    )
    assert web_app.redirect_uris == ["https://app.timesheets.test/callback"]
    assert web_app.web_origins == ["https://app.timesheets.test"]
    assert web_app.secrets == []
    assert await grants_of(tenant, "Import Job") == {API: ["batch:upload", "create:timesheets"]}
    assert await grants_of(tenant, "Report Job") == {
        REPORTS: ["read:reports"],
        API: ["read:timesheets"],
    }
    assert await grants_of(tenant, "Web App") == {}


async def test_second_apply_of_the_same_document_changes_nothing(tenant: Tenant) -> None:
    await apply(tenant, DOCUMENT)
    rows_before, exported = await tenant.row_counts(), await export(tenant)
    secrets_before = await tenant.run(
        lambda s: s.scalars(select(ClientSecret.digest).order_by(ClientSecret.id))
    )
    report = await apply(tenant, document())
    assert report.changes == []
    assert report.generated_secrets == {}
    assert await tenant.row_counts() == rows_before
    assert await export(tenant) == exported
    secrets_after = await tenant.run(
        lambda s: s.scalars(select(ClientSecret.digest).order_by(ClientSecret.id))
    )
    assert list(secrets_after) == list(secrets_before)


async def test_apply_of_an_empty_document_leaves_everything_alone(tenant: Tenant) -> None:
    await apply(tenant, DOCUMENT)
    exported = await export(tenant)
    report = await apply(tenant, {})
    assert (report.changes, report.generated_secrets) == ([], {})
    assert await export(tenant) == exported
    assert await counts(tenant) == FULL


async def test_apply_makes_scopes_match_adding_updating_and_removing(tenant: Tenant) -> None:
    await apply(tenant, DOCUMENT)
    changed = document()
    changed["apis"][0]["scopes"] = {
        "read:timesheets": "Read every timesheet",
        "create:timesheets": "Create timesheets",
        "approve:timesheets": "Approve timesheets",
    }
    changed["clients"][0]["grants"] = [{"api": API, "scopes": ["create:timesheets"]}]
    report = await apply(tenant, changed)
    assert f"added scope approve:timesheets to {API}" in report.changes
    assert f"removed scope batch:upload from {API}" in report.changes
    api = await tenant.run(lambda s: admin.find_api(s, API))
    assert {s.value: s.description for s in api.scopes} == changed["apis"][0]["scopes"]
    assert await grants_of(tenant, "Import Job") == {API: ["create:timesheets"]}
    assert await counts(tenant) == {**FULL, "scopes": 4}
    assert (await apply(tenant, changed)).changes == []


async def test_removing_a_scope_strips_it_from_grants_the_document_does_not_list(
    tenant: Tenant,
) -> None:
    await apply(tenant, DOCUMENT)
    await tenant.run(lambda s: admin.add_grant(s, "Web App", API, ["batch:upload"]))
    changed = document()
    del changed["apis"][0]["scopes"]["batch:upload"]
    changed["clients"][0]["grants"] = [{"api": API, "scopes": ["create:timesheets"]}]
    changed["clients"] = changed["clients"][:2]
    await apply(tenant, changed)
    assert await grants_of(tenant, "Web App") == {API: []}


async def test_apply_refuses_a_grant_of_a_scope_the_same_document_removes(
    tenant: Tenant,
) -> None:
    await apply(tenant, DOCUMENT)
    changed = document()
    del changed["apis"][0]["scopes"]["batch:upload"]
    message = await refused(tenant, changed)
    assert message == "API 'Timesheets API' has no scope batch:upload"


async def test_apply_makes_grants_match_replacing_and_removing(tenant: Tenant) -> None:
    await apply(tenant, DOCUMENT)
    changed = document()
    changed["clients"][1]["grants"] = [
        {"api": API, "scopes": ["read:timesheets", "create:timesheets"]}
    ]
    report = await apply(tenant, changed)
    assert report.changes == [
        f"granted Report Job create:timesheets read:timesheets on {API}",
        f"removed the grant of Report Job on {REPORTS}",
    ]
    assert await grants_of(tenant, "Report Job") == {API: ["create:timesheets", "read:timesheets"]}
    assert await counts(tenant) == {**FULL, "client_grants": 2}
    changed["clients"][1]["grants"] = []
    report = await apply(tenant, changed)
    assert report.changes == [f"removed the grant of Report Job on {API}"]
    assert await grants_of(tenant, "Report Job") == {}


async def test_apply_updates_the_lists_of_an_existing_client(tenant: Tenant) -> None:
    await apply(tenant, DOCUMENT)
    changed = document()
    changed["clients"][2]["redirect_uris"] = [
        "https://app.timesheets.test/callback",
        "https://app.timesheets.test/silent",
    ]
    changed["clients"][2]["web_origins"] = []
    report = await apply(tenant, changed)
    assert report.changes == [
        "updated redirect_uris of client Web App",
        "updated web_origins of client Web App",
    ]
    web_app = await client_named(tenant, "Web App")
    assert web_app.redirect_uris == changed["clients"][2]["redirect_uris"]
    assert web_app.web_origins == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "redirect_uris",
            ["https://app.timesheets.test/callback#token"],
            "redirect URI 'https://app.timesheets.test/callback#token' must be absolute and "
            "have no fragment",
        ),
        (
            "web_origins",
            ["https://app.timesheets.test/path"],
            "web origin 'https://app.timesheets.test/path' must be scheme://host[:port]",
        ),
        (
            "grant_types",
            ["client_credentials"],
            "a spa client may use only authorization_code, refresh_token, implicit",
        ),
    ],
    ids=["redirect_uris", "web_origins", "grant_types"],
)
async def test_apply_enforces_the_client_rules_when_it_updates_a_client(
    tenant: Tenant, key: str, value: list[str], message: str
) -> None:
    await apply(tenant, DOCUMENT)
    changed = document()
    changed["clients"][2][key] = value
    assert await refused(tenant, changed) == message


async def test_apply_sets_the_post_logout_redirect_uris_of_a_client(tenant: Tenant) -> None:
    doc = document()
    doc["clients"][2]["post_logout_redirect_uris"] = ["https://app.timesheets.test/"]
    await apply(tenant, doc)
    web_app = await client_named(tenant, "Web App")
    assert web_app.post_logout_redirect_uris == ["https://app.timesheets.test/"]
    assert (await export(tenant))["clients"][2]["post_logout_redirect_uris"] == [
        "https://app.timesheets.test/"
    ]
    doc["clients"][2]["post_logout_redirect_uris"] = []
    report = await apply(tenant, doc)
    assert report.changes == ["updated post_logout_redirect_uris of client Web App"]
    doc["clients"][2]["post_logout_redirect_uris"] = ["/signed-out"]
    assert await refused(tenant, doc) == (
        "post-logout redirect URI '/signed-out' must be absolute and have no fragment"
    )


async def test_apply_marks_a_client_third_party_and_back(tenant: Tenant) -> None:
    doc = document()
    doc["clients"][2]["first_party"] = False
    await apply(tenant, doc)
    assert (await client_named(tenant, "Web App")).first_party is False
    assert (await apply(tenant, doc)).changes == []
    doc["clients"][2]["first_party"] = True
    assert (await apply(tenant, doc)).changes == ["updated first_party of client Web App"]
    assert (await client_named(tenant, "Web App")).first_party is True
    doc["clients"][2]["first_party"] = "no"
    assert await refused(tenant, doc) == "client Web App: first_party has the wrong type"


async def test_apply_does_not_silently_ignore_a_changed_auth_method(tenant: Tenant) -> None:
    await apply(tenant, DOCUMENT)
    changed = document()
    changed["clients"][1]["token_endpoint_auth_method"] = "client_secret_post"
    try:
        report = await apply(tenant, changed)
    except admin.TenantError:
        return  # refusing the change is fine; ignoring it is not
    client = await client_named(tenant, "Report Job")
    assert client.token_endpoint_auth_method == "client_secret_post"
    assert report.changes != []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"token_lifetime": 1200}, ("Timesheets API", 1200, False, "Read timesheets")),
        ({"name": "Timesheets API v2"}, ("Timesheets API v2", 900, False, "Read timesheets")),
        ({"permissions_claim": True}, ("Timesheets API", 900, True, "Read timesheets")),
        (
            {"scopes": {**DOCUMENT["apis"][0]["scopes"], "read:timesheets": "Read all"}},
            ("Timesheets API", 900, False, "Read all"),
        ),
    ],
    ids=["token_lifetime", "name", "permissions_claim", "scope-description"],
)
async def test_apply_updates_api_settings_and_reports_the_change(
    tenant: Tenant, change: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    await apply(tenant, DOCUMENT)
    changed = document()
    changed["apis"][0].update(change)
    report = await apply(tenant, changed)
    api = await tenant.run(lambda s: admin.find_api(s, API))
    description = next(s.description for s in api.scopes if s.value == "read:timesheets")
    assert (api.name, api.token_lifetime, api.permissions_claim, description) == expected
    assert any(API in line for line in report.changes), report.changes


async def test_apply_refuses_renaming_an_api_to_the_name_of_another(tenant: Tenant) -> None:
    await apply(tenant, DOCUMENT)
    changed = document()
    changed["apis"][1]["name"] = "Timesheets API"
    message = await refused(tenant, changed)
    assert "'Timesheets API'" in message


# -- secrets ---------------------------------------------------------------------------


async def test_secret_from_the_environment_is_stored_as_a_digest_and_never_reported(
    tenant: Tenant,
) -> None:
    report = await apply(tenant, DOCUMENT)
    assert "Import Job" not in report.generated_secrets
    assert IMPORT_SECRET not in json.dumps(report.changes)
    client = await client_named(tenant, "Import Job")
    assert [(s.digest, s.expires_at) for s in client.secrets] == [(digest(IMPORT_SECRET), None)]
    generated = report.generated_secrets["Report Job"]
    assert len(generated) >= 43
    assert generated != IMPORT_SECRET


async def test_a_new_secret_in_the_environment_rotates_on_the_next_apply(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await apply(tenant, DOCUMENT)
    rotated = "the-rotated-import-job-secret-0123456789abcdef"
    monkeypatch.setenv("IMPORT_JOB_SECRET", rotated)
    report = await apply(tenant, document())
    assert report.changes == ["rotated client Import Job to the secret from IMPORT_JOB_SECRET"]
    assert report.generated_secrets == {}
    client = await client_named(tenant, "Import Job")
    assert [s.digest for s in client.secrets] == [digest(IMPORT_SECRET), digest(rotated)]
    old, new = client.secrets
    # The old secret keeps working for a day (overlap), then stops; the new one does not end.
    assert old.expires_at is not None
    assert timedelta(hours=23) < old.expires_at - new.created_at <= timedelta(days=1)
    assert new.expires_at is None
    assert (await apply(tenant, document())).changes == []


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
async def test_apply_refuses_a_secret_env_variable_that_is_unset(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("IMPORT_JOB_SECRET")
    else:
        monkeypatch.setenv("IMPORT_JOB_SECRET", value)
    message = await refused(tenant, DOCUMENT)
    assert message == "client Import Job: environment variable IMPORT_JOB_SECRET is unset"
    assert await counts(tenant) == EMPTY


async def test_apply_refuses_a_short_secret_from_the_environment_on_create(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMPORT_JOB_SECRET", "too-short")
    assert await refused(tenant, DOCUMENT) == "a client secret must be at least 32 characters"
    assert await counts(tenant) == EMPTY


async def test_apply_refuses_a_short_secret_from_the_environment_on_update(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await apply(tenant, DOCUMENT)
    monkeypatch.setenv("IMPORT_JOB_SECRET", "too-short")
    assert await refused(tenant, DOCUMENT) == "a client secret must be at least 32 characters"


# -- refusals --------------------------------------------------------------------------


def _with(path: tuple[Any, ...], key: str, value: Any) -> dict[str, Any]:
    doc = document()
    target: Any = doc
    for step in path:
        target = target[step]
    target[key] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_with((), "tenants", []), "the document: unknown key tenants"),
        (_with(("apis", 1), "audience", REPORTS), "an API: unknown key audience"),
        (_with(("clients", 2), "secret", "x" * 40), "a client: unknown key secret"),
        (
            _with(("clients", 1, "grants", 0), "scope", "read:reports"),
            "client Report Job grant: unknown key scope",
        ),
        ({"apis": {"identifier": API}}, "apis must be an array of tables"),
        ({"apis": ["https://api.timesheets.test"]}, "an API must be a table"),
        ({"apis": [{"name": "Nameless"}]}, "every API needs an identifier"),
        ({"clients": [{"type": "machine"}]}, "every client needs a name"),
        ({"roles": [{"description": "Approves"}]}, "every role needs a name"),
        ({"users": [{"name": "Erin"}]}, "every user needs an email"),
        ({"users": {"email": "erin@example.com"}}, "users must be an array of tables"),
        (
            {"apis": [{"identifier": API, "scopes": ["read:timesheets"]}]},
            f"API {API}: scopes must map names to descriptions",
        ),
    ],
    ids=[
        "document-key",
        "api-key",
        "client-key",
        "grant-key",
        "apis-not-array",
        "api-not-table",
        "api-no-identifier",
        "client-no-name",
        "role-no-name",
        "user-no-email",
        "users-not-array",
        "scopes-not-table",
    ],
)
async def test_apply_refuses_a_malformed_document_naming_the_problem(
    tenant: Tenant, doc: dict[str, Any], message: str
) -> None:
    assert await refused(tenant, doc) == message
    assert await counts(tenant) == EMPTY


async def test_apply_refuses_a_wrongly_typed_value_with_a_tenant_error(tenant: Tenant) -> None:
    doc = {"apis": [{"identifier": API, "token_lifetime": "an hour"}]}
    before = await tenant.row_counts()
    with pytest.raises(admin.TenantError):
        await apply(tenant, doc)
    assert await tenant.row_counts() == before


async def test_apply_refuses_to_change_an_apis_signing_alg(tenant: Tenant) -> None:
    await apply(tenant, DOCUMENT)
    changed = document()
    changed["apis"][0]["signing_alg"] = "ES256"
    changed["apis"][0]["token_lifetime"] = 1200
    message = await refused(tenant, changed)
    assert message == f"API {API}: the signing algorithm cannot change"


async def test_apply_refuses_to_change_a_clients_type(tenant: Tenant) -> None:
    await apply(tenant, DOCUMENT)
    changed = document()
    changed["clients"][2]["type"] = "native"
    message = await refused(tenant, changed)
    assert message == "client Web App: the type cannot change"


async def test_an_error_in_the_last_item_leaves_nothing_from_earlier_items(
    tenant: Tenant,
) -> None:
    doc = document()
    doc["clients"].append(
        {"name": "Approver", "grants": [{"api": API, "scopes": ["approve:timesheets"]}]}
    )
    message = await refused(tenant, doc)
    assert message == "API 'Timesheets API' has no scope approve:timesheets"
    assert await counts(tenant) == EMPTY
    assert await export(tenant) == {"apis": [], "clients": [], "roles": [], "users": []}


async def test_an_error_in_the_last_item_leaves_an_existing_tenant_as_it_was(
    tenant: Tenant,
) -> None:
    await apply(tenant, DOCUMENT)
    doc = document()
    doc["apis"][0]["token_lifetime"] = 60
    del doc["apis"][0]["scopes"]["read:timesheets"]
    doc["clients"][1]["grants"] = [{"api": REPORTS, "scopes": ["read:reports"]}]
    doc["clients"].append({"name": "Broken", "type": "spa", "redirect_uris": ["/relative"]})
    message = await refused(tenant, doc)
    assert message == "redirect URI '/relative' must be absolute and have no fragment"
    assert await counts(tenant) == FULL
    assert await grants_of(tenant, "Report Job") == {
        REPORTS: ["read:reports"],
        API: ["read:timesheets"],
    }


# -- export ----------------------------------------------------------------------------


async def test_export_describes_the_tenant_exactly(tenant: Tenant) -> None:
    await apply(tenant, DOCUMENT)
    import_job = await client_named(tenant, "Import Job")
    assert await export(tenant) == {
        "apis": [
            {
                "name": "Reports API",
                "identifier": REPORTS,
                "signing_alg": "HS256",
                "token_lifetime": 3600,
                "permissions_claim": True,
                "scopes": {"read:reports": "Read reports"},
            },
            {
                "name": "Timesheets API",
                "identifier": API,
                "signing_alg": "RS256",
                "token_lifetime": 900,
                "permissions_claim": False,
                "scopes": {
                    "batch:upload": "Upload timesheets in batch",
                    "create:timesheets": "Create timesheets",
                    "read:timesheets": "Read timesheets",
                },
            },
        ],
        "clients": [
            {
                "name": "Import Job",
                "type": "machine",
                "client_id": import_job.client_id,
                "token_endpoint_auth_method": "client_secret_post",
                "grant_types": ["client_credentials"],
                "redirect_uris": [],
                "web_origins": [],
                "post_logout_redirect_uris": [],
                "first_party": True,
                "grants": [{"api": API, "scopes": ["batch:upload", "create:timesheets"]}],
            },
            {
                "name": "Report Job",
                "type": "machine",
                "client_id": "report-job-0001",
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["client_credentials"],
                "redirect_uris": [],
                "web_origins": [],
                "post_logout_redirect_uris": [],
                "first_party": True,
                "grants": [
                    {"api": REPORTS, "scopes": ["read:reports"]},
                    {"api": API, "scopes": ["read:timesheets"]},
                ],
            },
            {
                "name": "Web App",
                "type": "spa",
                "client_id": "web-app-0001",
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "redirect_uris": ["https://app.timesheets.test/callback"],
                "web_origins": ["https://app.timesheets.test"],
                "post_logout_redirect_uris": [],
                "first_party": True,
                "grants": [],
            },
        ],
        "roles": [],
        "users": [],
    }


async def test_export_contains_no_secret_nor_digest(tenant: Tenant) -> None:
    report = await apply(tenant, DOCUMENT)
    await tenant.run(lambda s: admin.rotate_secret(s, "Report Job", timedelta(hours=1)))
    exported = await export(tenant)
    text = json.dumps(exported)
    assert keys_of(exported).isdisjoint({"secret", "secret_env", "sealed_secret", "secrets"})
    for secret in [IMPORT_SECRET, *report.generated_secrets.values()]:
        assert secret not in text
    digests = await tenant.run(lambda s: s.scalars(select(ClientSecret.digest)))
    sealed = await tenant.run(lambda s: s.scalars(select(ResourceServer.sealed_secret)))
    stored = [value for value in [*digests, *sealed] if value]
    assert len(stored) == 4
    for value in stored:
        assert value.hex() not in text
        assert value.hex().upper() not in text
    for value in stored:
        assert base64.b64encode(value).decode() not in text
        assert base64.urlsafe_b64encode(value).decode().rstrip("=") not in text


async def test_export_is_a_toml_document_that_reapplies_without_changes(tenant: Tenant) -> None:
    await apply(tenant, DOCUMENT)
    exported = await export(tenant)
    assert tomllib.loads(tomli_w.dumps(exported)) == exported
    report = await apply(tenant, tomllib.loads(tomli_w.dumps(exported)))
    assert (report.changes, report.generated_secrets) == ([], {})
    assert await counts(tenant) == FULL


async def test_export_applied_to_a_fresh_tenant_recreates_the_same_export(
    tenant: Tenant, fresh_tenant: Tenant
) -> None:
    await apply(tenant, DOCUMENT)
    await tenant.run(lambda s: admin.create_client(s, name="Portal", app_type="regular_web"))
    exported = await export(tenant)
    report = await apply(fresh_tenant, tomllib.loads(tomli_w.dumps(exported)))
    assert set(report.generated_secrets) == {REPORTS, "Import Job", "Report Job", "Portal"}
    assert await export(fresh_tenant) == exported
    assert await counts(fresh_tenant) == {
        **FULL,
        "clients": 4,
        "client_secrets": 3,
    }
    source_ids = [c["client_id"] for c in exported["clients"]]
    copied = await fresh_tenant.run(admin.list_clients)
    assert [c.client_id for c in copied] == source_ids


# -- roles and users -------------------------------------------------------------------

PEOPLE: dict[str, Any] = {
    "roles": [
        {
            "name": "Approver",
            "description": "Approves timesheets",
            "permissions": {API: ["read:timesheets", "create:timesheets"]},
        },
        {"name": "Reader", "permissions": {REPORTS: ["read:reports"]}},
    ],
    "users": [
        {
            "email": "Erin@Example.com",
            "name": "Erin",
            "user_type": "Contractor",
            "roles": ["Approver", "Reader"],
            "password_env": "ERIN_PASSWORD",
        }
    ],
}


def with_people(**changes: Any) -> dict[str, Any]:
    """DOCUMENT with roles and users, deep-copied to change."""
    return document(**{**copy.deepcopy(PEOPLE), **changes})


async def user_named(tenant: Tenant, email: str) -> tuple[User, list[str]]:
    """A user as stored, with the names of their roles."""

    async def work(session: Any) -> tuple[User, list[str]]:
        user = await people.find_user(session, email)
        return user, await people.user_roles(session, user.id)

    return await tenant.run(work)  # type: ignore[no-any-return]


async def permissions_of(tenant: Tenant, role: str) -> dict[str, list[str]]:
    """A role's scopes by API identifier."""

    async def work(session: Any) -> dict[str, list[str]]:
        return await people.role_permissions(session, (await people.find_role(session, role)).id)

    return await tenant.run(work)  # type: ignore[no-any-return]


async def test_apply_creates_roles_and_users_with_the_password_from_the_environment(
    tenant: Tenant,
) -> None:
    report = await apply(tenant, with_people())
    assert report.changes[8:] == [
        "created role Approver",
        f"gave role Approver create:timesheets read:timesheets on {API}",
        "created role Reader",
        f"gave role Reader read:reports on {REPORTS}",
        "created user erin@example.com",
        "gave user erin@example.com role Approver",
        "gave user erin@example.com role Reader",
    ]
    assert ERIN_PASSWORD not in json.dumps(report.changes)
    assert await permissions_of(tenant, "Approver") == {
        API: ["create:timesheets", "read:timesheets"]
    }
    erin, roles = await user_named(tenant, "erin@example.com")
    assert (erin.name, erin.user_type, erin.enabled) == ("Erin", "Contractor", True)
    assert roles == ["Approver", "Reader"]
    assert verify_password(erin.password_hash, ERIN_PASSWORD)
    async with tenant.runtime.sessions() as session:
        found = await audit.events(session, audit.Filters(subject=erin.id), limit=10)
    assert sorted(event.kind for event in found) == [
        "user.created",
        "user.role_assigned",
        "user.role_assigned",
    ]
    assert (await apply(tenant, with_people())).changes == []


async def test_apply_makes_an_existing_role_and_user_match(tenant: Tenant) -> None:
    await apply(tenant, with_people())
    erin_before, _ = await user_named(tenant, "erin@example.com")
    changed = with_people()
    changed["roles"][0]["description"] = "Approves everything"
    changed["roles"][0]["permissions"] = {REPORTS: ["read:reports"]}
    changed["users"][0].update(name="Erin B", user_type="Employee", enabled=False, roles=["Reader"])
    del changed["users"][0]["password_env"]
    report = await apply(tenant, changed)
    assert report.changes == [
        "updated the description of role Approver",
        f"gave role Approver read:reports on {REPORTS}",
        f"removed the permissions of role Approver on {API}",
        "updated user erin@example.com",
        "disabled user erin@example.com",
        "took role Approver from user erin@example.com",
    ]
    assert await permissions_of(tenant, "Approver") == {REPORTS: ["read:reports"]}
    erin, roles = await user_named(tenant, "erin@example.com")
    assert (erin.name, erin.user_type, erin.enabled, roles) == (
        "Erin B",
        "Employee",
        False,
        ["Reader"],
    )
    assert erin.password_hash == erin_before.password_hash


async def test_apply_leaves_alone_what_a_user_entry_does_not_list(tenant: Tenant) -> None:
    await apply(tenant, with_people())
    await tenant.run(lambda s: people.set_enabled(s, "erin@example.com", False))
    report = await apply(tenant, document(users=[{"email": "erin@example.com"}]))
    assert report.changes == []
    erin, roles = await user_named(tenant, "erin@example.com")
    assert (erin.enabled, roles) == (False, ["Approver", "Reader"])


async def test_apply_reads_the_password_only_to_create_a_user(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await apply(tenant, with_people())
    monkeypatch.delenv("ERIN_PASSWORD")
    assert (await apply(tenant, with_people())).changes == []


async def test_apply_refuses_to_create_a_user_whose_password_variable_is_unset(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ERIN_PASSWORD")
    message = await refused(tenant, with_people())
    assert message == "user Erin@Example.com: environment variable ERIN_PASSWORD is unset"
    assert await counts(tenant) == EMPTY


async def test_apply_refuses_to_create_a_user_without_password_env(tenant: Tenant) -> None:
    doc = with_people()
    del doc["users"][0]["password_env"]
    message = await refused(tenant, doc)
    assert message == "user Erin@Example.com: password_env is needed to create the user"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"password": "x" * 20}, "a user: unknown key password"),
        ({"roles": ["Auditor"]}, "no role 'Auditor'"),
        ({"roles": "Approver"}, "user Erin@Example.com: roles must be an array of strings"),
        ({"enabled": "yes"}, "user Erin@Example.com: enabled has the wrong type"),
        ({"user_type": "Intern"}, "user type must be one of Employee, Contractor"),
        ({"email": "erin"}, "'erin' is not an email address"),
    ],
    ids=["password-in-file", "unknown-role", "roles-not-array", "enabled-type", "type", "email"],
)
async def test_apply_refuses_a_bad_user_and_stores_nothing(
    tenant: Tenant, change: dict[str, Any], message: str
) -> None:
    doc = with_people()
    doc["users"][0].update(change)
    assert await refused(tenant, doc) == message
    assert await counts(tenant) == EMPTY


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"permissions": {API: ["fly:kites"]}}, "API 'Timesheets API' has no scope fly:kites"),
        ({"permissions": {"https://nope.test": []}}, "no API named 'https://nope.test'"),
        (
            {"permissions": {API: "read:timesheets"}},
            "role Approver: permissions must be an array of strings",
        ),
        ({"permissions": [API]}, "role Approver: permissions must map API identifiers to scopes"),
        ({"members": []}, "a role: unknown key members"),
    ],
    ids=["unknown-scope", "unknown-api", "scopes-not-array", "not-a-table", "unknown-key"],
)
async def test_apply_refuses_a_bad_role_and_stores_nothing(
    tenant: Tenant, change: dict[str, Any], message: str
) -> None:
    doc = with_people()
    doc["roles"][0].update(change)
    assert await refused(tenant, doc) == message
    assert await counts(tenant) == EMPTY


async def test_apply_keeps_the_last_enabled_administrator(tenant: Tenant) -> None:
    doc = with_people(roles=[{"name": people.ADMIN_ROLE}])
    doc["users"][0]["roles"] = [people.ADMIN_ROLE]
    await apply(tenant, doc)
    doc["users"][0]["enabled"] = False
    message = await refused(tenant, doc)
    assert message == "erin@example.com is the last enabled administrator and cannot be disabled"
    doc["users"][0] = {"email": "erin@example.com", "roles": []}
    message = await refused(tenant, doc)
    assert message == (
        "erin@example.com is the last enabled administrator and cannot be without the Admin role"
    )


async def test_export_lists_roles_and_users_without_passwords_and_reapplies_unchanged(
    tenant: Tenant, fresh_tenant: Tenant
) -> None:
    await apply(tenant, with_people())
    apis = await tenant.run(admin.list_apis)
    management = next(api.identifier for api in apis if api.is_system)
    scope = sorted(admin.MANAGEMENT_SCOPES)[0]
    await tenant.run(lambda s: people.set_permissions(s, "Reader", management, [scope]))
    exported = await export(tenant)
    assert exported["roles"] == [
        {
            "name": "Approver",
            "description": "Approves timesheets",
            "permissions": {API: ["create:timesheets", "read:timesheets"]},
        },
        {"name": "Reader", "description": "", "permissions": {REPORTS: ["read:reports"]}},
    ]
    assert exported["users"] == [
        {
            "email": "erin@example.com",
            "name": "Erin",
            "user_type": "Contractor",
            "enabled": True,
            "roles": ["Approver", "Reader"],
        }
    ]
    text = tomli_w.dumps(exported)
    erin, _ = await user_named(tenant, "erin@example.com")
    assert ERIN_PASSWORD not in text
    assert erin.password_hash is not None
    assert erin.password_hash not in text
    assert (await apply(tenant, tomllib.loads(text))).changes == []

    refused_there = await refused(fresh_tenant, tomllib.loads(text))
    assert refused_there == "user erin@example.com: password_env is needed to create the user"
    again = tomllib.loads(text)
    again["users"][0]["password_env"] = "ERIN_PASSWORD"
    await apply(fresh_tenant, again)
    assert await export(fresh_tenant) == exported
    assert (await permissions_of(tenant, "Reader"))[management] == [scope]
