"""The tenant's rules (admin.py): every accepted change and every refusal, on SQLite and PostgreSQL.

A refusal raises TenantError with a message that says why, and stores nothing: each
refused call runs in its own transaction and the row counts are compared before and after.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.authserver.conftest import ALL_SCOPES, AUDIENCE, Tenant
from timesheets.authserver import admin
from timesheets.authserver.models import Client, ClientGrant, ClientSecret, ResourceServer, Scope

EMPTY = {
    "resource_servers": 0,
    "scopes": 0,
    "clients": 0,
    "client_secrets": 0,
    "client_grants": 0,
    "signing_keys": 2,
}
OTHER = "https://other.timesheets.test"
OWN_APIS = select(ResourceServer).where(~ResourceServer.is_system)
OWN_SCOPES = select(Scope).join(ResourceServer).where(~ResourceServer.is_system)


async def counts(tenant: Tenant) -> dict[str, int]:
    """Rows of the tables the tenant's rules write (other tables are not theirs)."""
    every = await tenant.row_counts()
    return {table: every[table] for table in EMPTY}


async def refused(tenant: Tenant, work: Callable[[AsyncSession], Any]) -> str:
    """Run `work` in a transaction, expect a TenantError and no stored change; its message."""
    before = await tenant.row_counts()
    with pytest.raises(admin.TenantError) as caught:
        await tenant.run(work)
    assert await tenant.row_counts() == before
    return str(caught.value)


async def stored(tenant: Tenant, statement: Any) -> list[Any]:
    """Rows as stored, read in a fresh session."""
    async with tenant.runtime.sessions() as session:
        return list((await session.scalars(statement)).all())


async def grant_rows(tenant: Tenant) -> list[tuple[str, str, list[str]]]:
    """Every grant as (client name, API identifier, scopes)."""
    async with tenant.runtime.sessions() as session:
        rows = await admin.list_grants(session)
    return [(client.name, api.identifier, grant.scopes) for client, api, grant in rows]


def digest(secret: str) -> bytes:
    """SHA-256 of a secret, as the server stores it."""
    return hashlib.sha256(secret.encode()).digest()


async def make_client(
    tenant: Tenant, name: str = "Import Job", **options: Any
) -> admin.CreatedClient:
    """Register a client (a machine client by default)."""
    options.setdefault("app_type", "machine")
    return await tenant.run(lambda s: admin.create_client(s, name=name, **options))  # type: ignore[no-any-return]


async def grant(tenant: Tenant, client: str, api: str, scopes: list[str]) -> ClientGrant:
    """Grant a client scopes of an API."""
    return await tenant.run(lambda s: admin.add_grant(s, client, api, scopes))  # type: ignore[no-any-return]


# -- APIs ------------------------------------------------------------------------------


async def test_create_api_defaults_to_rs256_one_hour_and_stores_its_scopes(tenant: Tenant) -> None:
    start = admin.now_utc()
    created = await tenant.run(
        lambda s: admin.create_api(
            s, tenant.runtime.sealer, name="Timesheets API", identifier=AUDIENCE, scopes=ALL_SCOPES
        )
    )
    assert created.hs256_secret is None
    assert created.test_client is None
    assert created.api.id.startswith("api_")
    [api] = await stored(tenant, OWN_APIS)
    assert api.id == created.api.id
    assert api.name == "Timesheets API"
    assert api.identifier == AUDIENCE
    assert api.signing_alg == "RS256"
    assert api.token_lifetime == 3600
    assert api.permissions_claim is False
    assert api.sealed_secret is None
    assert start <= api.created_at <= admin.now_utc()
    assert {scope.value: scope.description for scope in api.scopes} == ALL_SCOPES
    assert [scope.value for scope in api.scopes] == sorted(ALL_SCOPES)
    assert await counts(tenant) == {**EMPTY, "resource_servers": 1, "scopes": 5}


async def test_create_api_keeps_given_lifetime_alg_and_permissions_claim(tenant: Tenant) -> None:
    await tenant.run(
        lambda s: admin.create_api(
            s,
            tenant.runtime.sealer,
            name="Edge API",
            identifier="urn:timesheets:edge",
            signing_alg="ES256",
            token_lifetime=60,
            permissions_claim=True,
        )
    )
    await tenant.create_api(OTHER, token_lifetime=2592000)
    apis = {api.identifier: api for api in await stored(tenant, OWN_APIS)}
    assert apis["urn:timesheets:edge"].signing_alg == "ES256"
    assert apis["urn:timesheets:edge"].token_lifetime == 60
    assert apis["urn:timesheets:edge"].permissions_claim is True
    assert apis["urn:timesheets:edge"].scopes == []
    assert apis[OTHER].token_lifetime == 2592000


async def test_hs256_api_secret_is_returned_once_and_stored_only_sealed(tenant: Tenant) -> None:
    created = await tenant.create_api(signing_alg="HS256")
    secret = created.hs256_secret
    assert secret is not None
    assert len(secret) >= 43
    [sealed] = await stored(
        tenant, select(ResourceServer.sealed_secret).where(~ResourceServer.is_system)
    )
    assert sealed is not None
    assert secret.encode() not in sealed
    raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    assert raw not in sealed
    opened = tenant.runtime.sealer.open(sealed, f"api-secret:{created.api.id}")
    assert opened == secret.encode()
    again = await tenant.run(lambda s: admin.find_api(s, AUDIENCE))
    assert not hasattr(again, "hs256_secret")


@pytest.mark.parametrize("alg", ["none", "HS512", "rs256", ""])
async def test_create_api_refuses_an_unknown_signing_alg(tenant: Tenant, alg: str) -> None:
    message = await refused(
        tenant,
        lambda s: admin.create_api(
            s, tenant.runtime.sealer, name="API", identifier=AUDIENCE, signing_alg=alg
        ),
    )
    assert message == "signing algorithm must be one of RS256, PS256, ES256, EdDSA, HS256"
    assert await counts(tenant) == EMPTY


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("api.timesheets.test", "API identifier must be an absolute URI without a fragment"),
        ("/timesheets", "API identifier must be an absolute URI without a fragment"),
        (
            "https://api.timesheets.test/#v1",
            "API identifier must be an absolute URI without a fragment",
        ),
        (
            "https://api timesheets.test",
            "API identifier must be 1-600 printable characters without spaces",
        ),
        ("", "API identifier must be 1-600 printable characters without spaces"),
        (
            "https://a.test/" + "x" * 600,
            "API identifier must be 1-600 printable characters without spaces",
        ),
    ],
)
async def test_create_api_refuses_an_identifier_that_is_not_an_absolute_uri(
    tenant: Tenant, identifier: str, message: str
) -> None:
    got = await refused(
        tenant,
        lambda s: admin.create_api(
            s, tenant.runtime.sealer, name="API", identifier=identifier, scopes=ALL_SCOPES
        ),
    )
    assert got == message
    assert await counts(tenant) == EMPTY


@pytest.mark.parametrize("lifetime", [59, 0, -1, 2592001])
async def test_create_api_refuses_a_lifetime_outside_60s_to_30_days(
    tenant: Tenant, lifetime: int
) -> None:
    message = await refused(
        tenant,
        lambda s: admin.create_api(
            s, tenant.runtime.sealer, name="API", identifier=AUDIENCE, token_lifetime=lifetime
        ),
    )
    assert message == "token lifetime must be between 60 and 2592000 s"
    assert await counts(tenant) == EMPTY


@pytest.mark.parametrize(
    ("name", "identifier"),
    [("Timesheets API", OTHER), ("Another API", AUDIENCE)],
    ids=["same-name", "same-identifier"],
)
async def test_create_api_refuses_a_duplicate_name_or_identifier(
    tenant: Tenant, name: str, identifier: str
) -> None:
    await tenant.create_api(name="Timesheets API")
    message = await refused(
        tenant,
        lambda s: admin.create_api(s, tenant.runtime.sealer, name=name, identifier=identifier),
    )
    assert message == f"an API named {name!r} or identified {identifier!r} already exists"
    assert await counts(tenant) == {**EMPTY, "resource_servers": 1, "scopes": 5}


@pytest.mark.parametrize("scope", ["read timesheets", 'say"hi', "back\\slash", "", "x" * 281])
async def test_create_api_refuses_an_invalid_scope_token_and_stores_nothing(
    tenant: Tenant, scope: str
) -> None:
    message = await refused(
        tenant,
        lambda s: admin.create_api(
            s,
            tenant.runtime.sealer,
            name="API",
            identifier=AUDIENCE,
            scopes={"read:timesheets": "Read", scope: "Bad"},
            create_test_client=True,
        ),
    )
    assert message == f"scope {scope!r} is not a valid scope token (RFC 6749 3.3)"
    assert await counts(tenant) == EMPTY


@pytest.mark.parametrize("name", ["", "   ", "line\nbreak", "x" * 201])
async def test_create_api_refuses_an_unprintable_or_overlong_name(
    tenant: Tenant, name: str
) -> None:
    message = await refused(
        tenant, lambda s: admin.create_api(s, tenant.runtime.sealer, name=name, identifier=AUDIENCE)
    )
    assert message == "API name must be 1-200 printable characters"


async def test_create_api_with_test_client_grants_a_machine_client_every_scope(
    tenant: Tenant,
) -> None:
    created = await tenant.create_api(name="Timesheets API", create_test_client=True)
    test_client = created.test_client
    assert test_client is not None
    assert test_client.secret is not None
    assert len(test_client.secret) >= 43
    [client] = await stored(tenant, select(Client))
    assert client.client_id == test_client.client.client_id
    assert client.name == "Timesheets API (Test Application)"
    assert client.app_type == "machine"
    assert client.token_endpoint_auth_method == "client_secret_post"
    assert client.grant_types == ["client_credentials"]
    assert [s.digest for s in client.secrets] == [digest(test_client.secret)]
    assert await grant_rows(tenant) == [
        ("Timesheets API (Test Application)", AUDIENCE, sorted(ALL_SCOPES))
    ]
    assert await counts(tenant) == {
        **EMPTY,
        "resource_servers": 1,
        "scopes": 5,
        "clients": 1,
        "client_secrets": 1,
        "client_grants": 1,
    }


async def test_update_api_changes_name_lifetime_and_permissions_claim(tenant: Tenant) -> None:
    created = await tenant.create_api(name="Timesheets API")
    await tenant.run(
        lambda s: admin.update_api(
            s, AUDIENCE, name="Timesheets API v2", token_lifetime=600, permissions_claim=True
        )
    )
    [api] = await stored(tenant, OWN_APIS)
    assert (api.name, api.token_lifetime, api.permissions_claim) == ("Timesheets API v2", 600, True)
    assert (api.id, api.identifier, api.signing_alg) == (created.api.id, AUDIENCE, "RS256")
    await tenant.run(lambda s: admin.update_api(s, "Timesheets API v2", permissions_claim=False))
    [api] = await stored(tenant, OWN_APIS)
    assert (api.name, api.token_lifetime, api.permissions_claim) == (
        "Timesheets API v2",
        600,
        False,
    )


async def test_update_api_has_no_way_to_change_the_identifier_or_algorithm(tenant: Tenant) -> None:
    await tenant.create_api()
    parameters = set(inspect.signature(admin.update_api).parameters)
    assert parameters == {"session", "ref", "name", "token_lifetime", "permissions_claim"}
    with pytest.raises(TypeError):
        await tenant.run(lambda s: admin.update_api(s, AUDIENCE, identifier=OTHER))  # type: ignore[call-arg]
    [api] = await stored(tenant, OWN_APIS)
    assert api.identifier == AUDIENCE


async def test_update_api_refuses_a_bad_lifetime_or_name_and_changes_nothing(
    tenant: Tenant,
) -> None:
    await tenant.create_api(name="Timesheets API")
    message = await refused(
        tenant, lambda s: admin.update_api(s, AUDIENCE, name="Renamed", token_lifetime=30)
    )
    assert message == "token lifetime must be between 60 and 2592000 s"
    assert await refused(tenant, lambda s: admin.update_api(s, AUDIENCE, name=" ")) == (
        "API name must be 1-200 printable characters"
    )
    [api] = await stored(tenant, OWN_APIS)
    assert (api.name, api.token_lifetime) == ("Timesheets API", 3600)


async def test_update_api_refuses_the_name_of_another_api(tenant: Tenant) -> None:
    await tenant.create_api(name="Timesheets API")
    await tenant.create_api(OTHER, name="Other API")
    message = await refused(tenant, lambda s: admin.update_api(s, OTHER, name="Timesheets API"))
    assert "'Timesheets API'" in message
    assert "already exists" in message


async def test_delete_api_is_refused_while_a_client_holds_a_grant(tenant: Tenant) -> None:
    await tenant.create_api(name="Timesheets API")
    await tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    message = await refused(tenant, lambda s: admin.delete_api(s, AUDIENCE))
    assert message == "API 'Timesheets API' still has client grants; remove them first"
    await tenant.run(lambda s: admin.remove_grant(s, "Import Job", AUDIENCE))
    await tenant.run(lambda s: admin.delete_api(s, "Timesheets API"))
    assert await counts(tenant) == {**EMPTY, "clients": 1, "client_secrets": 1}


async def test_add_scope_adds_and_refuses_a_duplicate_or_invalid_scope(tenant: Tenant) -> None:
    await tenant.create_api(name="Timesheets API", scopes={"read:timesheets": "Read"})
    await tenant.run(lambda s: admin.add_scope(s, AUDIENCE, "export:timesheets", "Export"))
    assert await refused(tenant, lambda s: admin.add_scope(s, AUDIENCE, "read:timesheets")) == (
        "API 'Timesheets API' already has scope 'read:timesheets'"
    )
    assert await refused(tenant, lambda s: admin.add_scope(s, AUDIENCE, "two words")) == (
        "scope 'two words' is not a valid scope token (RFC 6749 3.3)"
    )
    scopes = await stored(tenant, OWN_SCOPES.order_by(Scope.value))
    assert [(s.value, s.description) for s in scopes] == [
        ("export:timesheets", "Export"),
        ("read:timesheets", "Read"),
    ]


async def test_remove_scope_also_strips_it_from_every_grant(tenant: Tenant) -> None:
    await tenant.create_api(name="Timesheets API")
    await tenant.machine_client({AUDIENCE: ["read:timesheets", "create:timesheets"]})
    await tenant.machine_client({AUDIENCE: ["read:timesheets"]}, name="Report Job")
    await tenant.run(lambda s: admin.remove_scope(s, AUDIENCE, "read:timesheets"))
    api = await tenant.run(lambda s: admin.find_api(s, AUDIENCE))
    assert "read:timesheets" not in [scope.value for scope in api.scopes]
    assert await grant_rows(tenant) == [
        ("Import Job", AUDIENCE, ["create:timesheets"]),
        ("Report Job", AUDIENCE, []),
    ]
    assert (await counts(tenant))["scopes"] == 4
    assert await refused(tenant, lambda s: admin.remove_scope(s, AUDIENCE, "read:timesheets")) == (
        "API 'Timesheets API' has no scope 'read:timesheets'"
    )


async def test_find_api_by_identifier_name_and_id(tenant: Tenant) -> None:
    created = await tenant.create_api(name="Timesheets API")
    await tenant.create_api(OTHER, name="Other API")
    for ref in (AUDIENCE, "Timesheets API", created.api.id):
        found = await tenant.run(lambda s, ref=ref: admin.find_api(s, ref))
        assert found.id == created.api.id
    assert await refused(tenant, lambda s: admin.find_api(s, "https://nope.test")) == (
        "no API named 'https://nope.test'"
    )


async def test_an_api_ref_resolves_to_the_api_with_that_identifier(tenant: Tenant) -> None:
    # An API may be named like another API's identifier; the identifier must win
    # (or the confusing name must be refused), never an arbitrary one of the two.
    await tenant.create_api("https://a.timesheets.test", name=OTHER)
    try:
        await tenant.create_api(OTHER, name="Other API")
    except admin.TenantError:
        return
    found = await tenant.run(lambda s: admin.find_api(s, OTHER))
    assert found.identifier == OTHER


async def test_list_apis_orders_by_name(tenant: Tenant) -> None:
    await tenant.create_api(OTHER, name="Zeta API")
    await tenant.create_api(name="Alpha API")
    apis = await tenant.run(admin.list_apis)
    assert [api.name for api in apis] == ["Alpha API", "Timesheets Management API", "Zeta API"]
    assert [api.is_system for api in apis] == [False, True, False]


# -- clients ---------------------------------------------------------------------------


async def test_machine_client_defaults_to_secret_post_and_client_credentials(
    tenant: Tenant,
) -> None:
    created = await make_client(tenant)
    secret = created.secret
    assert secret is not None
    assert len(secret) >= 43
    [client] = await stored(tenant, select(Client))
    assert client.client_id == created.client.client_id
    assert len(client.client_id) >= 8
    assert client.app_type == "machine"
    assert client.token_endpoint_auth_method == "client_secret_post"
    assert client.grant_types == ["client_credentials"]
    assert (client.redirect_uris, client.web_origins) == ([], [])
    [row] = await stored(tenant, select(ClientSecret))
    assert row.digest == digest(secret)
    assert len(row.digest) == 32
    assert secret.encode() not in row.digest
    assert row.expires_at is None
    assert await counts(tenant) == {**EMPTY, "clients": 1, "client_secrets": 1}


async def test_regular_web_client_is_confidential_with_authorization_code(tenant: Tenant) -> None:
    created = await make_client(
        tenant,
        "Portal",
        app_type="regular_web",
        auth_method="client_secret_basic",
        redirect_uris=("https://portal.timesheets.test/callback",),
    )
    assert created.secret is not None
    client = created.client
    assert client.token_endpoint_auth_method == "client_secret_basic"
    assert client.grant_types == ["authorization_code", "refresh_token"]
    assert client.redirect_uris == ["https://portal.timesheets.test/callback"]
    assert (await counts(tenant))["client_secrets"] == 1


@pytest.mark.parametrize("app_type", ["spa", "native"])
async def test_public_clients_authenticate_with_none_and_get_no_secret(
    tenant: Tenant, app_type: str
) -> None:
    created = await make_client(
        tenant,
        "Web App",
        app_type=app_type,
        redirect_uris=("https://app.timesheets.test/callback", "http://127.0.0.1:8765/cb"),
        web_origins=("https://app.timesheets.test", "http://localhost:5173"),
    )
    assert created.secret is None
    [client] = await stored(tenant, select(Client))
    assert client.app_type == app_type
    assert client.token_endpoint_auth_method == "none"
    assert client.grant_types == ["authorization_code", "refresh_token"]
    assert client.redirect_uris == [
        "https://app.timesheets.test/callback",
        "http://127.0.0.1:8765/cb",
    ]
    assert client.web_origins == ["https://app.timesheets.test", "http://localhost:5173"]
    assert await counts(tenant) == {**EMPTY, "clients": 1, "client_secrets": 0}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"app_type": "machine", "auth_method": "none"},
            "a machine client authenticates with client_secret_post or client_secret_basic",
        ),
        (
            {"app_type": "machine", "auth_method": "private_key_jwt"},
            "a machine client authenticates with client_secret_post or client_secret_basic",
        ),
        (
            {"app_type": "spa", "auth_method": "client_secret_post"},
            "a spa client authenticates with none",
        ),
        (
            {"app_type": "spa", "grant_types": ("client_credentials",)},
            "a spa client may use only authorization_code, refresh_token, implicit",
        ),
        (
            {"app_type": "native", "grant_types": ("authorization_code", "implicit")},
            "a native client may use only authorization_code, refresh_token",
        ),
        (
            {"app_type": "machine", "grant_types": ("authorization_code",)},
            "a machine client may use only client_credentials",
        ),
        ({"app_type": "daemon"}, "client type must be one of machine, spa, native, regular_web"),
        (
            {"app_type": "regular_web", "redirect_uris": ("https://portal.test/cb#done",)},
            "redirect URI 'https://portal.test/cb#done' must be absolute and have no fragment",
        ),
        (
            {"app_type": "spa", "redirect_uris": ("/callback",)},
            "redirect URI '/callback' must be absolute and have no fragment",
        ),
        (
            {"app_type": "spa", "web_origins": ("https://app.timesheets.test/path",)},
            "web origin 'https://app.timesheets.test/path' must be scheme://host[:port]",
        ),
        (
            {"app_type": "spa", "web_origins": ("app.timesheets.test",)},
            "web origin 'app.timesheets.test' must be scheme://host[:port]",
        ),
        (
            {"app_type": "machine", "client_id": "short"},
            "client_id must be 8-64 unreserved URL characters",
        ),
        (
            {"app_type": "machine", "client_id": "has space in it"},
            "client_id must be 8-64 unreserved URL characters",
        ),
        (
            {"app_type": "machine", "secret": "s" * 31},
            "a client secret must be at least 32 characters",
        ),
    ],
)
async def test_create_client_refusals(
    tenant: Tenant, options: dict[str, Any], message: str
) -> None:
    got = await refused(tenant, lambda s: admin.create_client(s, name="Refused", **options))
    assert got == message
    assert await counts(tenant) == EMPTY


async def test_create_client_refuses_a_duplicate_name(tenant: Tenant) -> None:
    await make_client(tenant)
    message = await refused(
        tenant, lambda s: admin.create_client(s, name="Import Job", app_type="spa")
    )
    assert message == "a client named 'Import Job' already exists"
    assert await counts(tenant) == {**EMPTY, "clients": 1, "client_secrets": 1}


async def test_create_client_keeps_a_given_client_id_and_secret(tenant: Tenant) -> None:
    secret = "a-chosen-secret-of-forty-characters-long"
    created = await make_client(tenant, client_id="import-job-0001", secret=secret)
    assert created.client.client_id == "import-job-0001"
    assert created.secret == secret
    [row] = await stored(tenant, select(ClientSecret))
    assert (row.client_id, row.digest) == ("import-job-0001", digest(secret))


async def test_create_client_refusing_a_taken_client_id_names_the_client_id(
    tenant: Tenant,
) -> None:
    await make_client(tenant, client_id="import-job-0001")
    message = await refused(
        tenant,
        lambda s: admin.create_client(
            s, name="Second Job", app_type="machine", client_id="import-job-0001"
        ),
    )
    assert "import-job-0001" in message


async def test_find_client_by_name_and_id(tenant: Tenant) -> None:
    created = await make_client(tenant)
    await make_client(tenant, "Report Job")
    for ref in ("Import Job", created.client.client_id):
        found = await tenant.run(lambda s, ref=ref: admin.find_client(s, ref))
        assert found.client_id == created.client.client_id
    assert await refused(tenant, lambda s: admin.find_client(s, "Ghost Job")) == (
        "no client named 'Ghost Job'"
    )


async def test_a_client_ref_resolves_to_the_client_with_that_id(tenant: Tenant) -> None:
    # A client may be named like another client's id; the id must win (or the name be
    # refused), never an arbitrary one of the two.
    await make_client(tenant, "import-job-0001")
    try:
        await make_client(tenant, "Import Job", client_id="import-job-0001")
    except admin.TenantError:
        return
    found = await tenant.run(lambda s: admin.find_client(s, "import-job-0001"))
    assert found.client_id == "import-job-0001"


async def test_a_client_is_first_party_unless_marked_third_party(tenant: Tenant) -> None:
    await make_client(tenant, "Own App", app_type="spa")
    await make_client(tenant, "Partner", app_type="spa", first_party=False)
    stored_clients = {c.name: c.first_party for c in await tenant.run(admin.list_clients)}
    assert stored_clients == {"Own App": True, "Partner": False}
    changed = await tenant.run(lambda s: admin.update_client(s, "Own App", first_party=False))
    assert changed == ["first_party"]
    assert (await tenant.run(lambda s: admin.find_client(s, "Own App"))).first_party is False
    unchanged = await tenant.run(lambda s: admin.update_client(s, "Partner", first_party=False))
    assert unchanged == []


async def test_post_logout_redirect_uris_are_absolute_without_fragment(tenant: Tenant) -> None:
    created = await make_client(
        tenant, "Web App", app_type="spa", post_logout_redirect_uris=("https://app.test/",)
    )
    assert created.client.post_logout_redirect_uris == ["https://app.test/"]
    before = await counts(tenant)
    for uri in ("/out", "https://app.test/#top"):
        with pytest.raises(admin.TenantError) as caught:
            await tenant.run(
                lambda s, uri=uri: admin.update_client(
                    s, "Web App", post_logout_redirect_uris=(uri,)
                )
            )
        assert caught.value.field == "post_logout_redirect_uris"
    with pytest.raises(admin.TenantError):
        await make_client(tenant, "Other", app_type="spa", post_logout_redirect_uris=("/x",))
    assert await counts(tenant) == before
    stored_client = await tenant.run(lambda s: admin.find_client(s, "Web App"))
    assert stored_client.post_logout_redirect_uris == ["https://app.test/"]


async def test_list_clients_orders_by_name(tenant: Tenant) -> None:
    await make_client(tenant, "Zeta Job")
    await make_client(tenant, "Alpha App", app_type="spa")
    clients = await tenant.run(admin.list_clients)
    assert [client.name for client in clients] == ["Alpha App", "Zeta Job"]


async def test_rotate_secret_expires_the_old_secret_after_the_overlap(tenant: Tenant) -> None:
    created = await make_client(tenant)
    old = created.secret
    assert old is not None
    start = admin.now_utc()
    new = await tenant.run(lambda s: admin.rotate_secret(s, "Import Job", timedelta(hours=1)))
    end = admin.now_utc()
    assert new != old
    assert len(new) >= 43
    rows = await stored(tenant, select(ClientSecret).order_by(ClientSecret.id))
    assert [row.digest for row in rows] == [digest(old), digest(new)]
    assert start + timedelta(hours=1) <= rows[0].expires_at <= end + timedelta(hours=1)
    assert rows[1].expires_at is None
    assert start <= rows[1].created_at <= end


async def test_rotate_secret_never_extends_an_earlier_expiry(tenant: Tenant) -> None:
    created = await make_client(tenant)
    await tenant.run(lambda s: admin.rotate_secret(s, created.client.client_id, timedelta(hours=1)))
    start = admin.now_utc()
    await tenant.run(lambda s: admin.rotate_secret(s, "Import Job", timedelta(days=2)))
    end = admin.now_utc()
    rows = await stored(tenant, select(ClientSecret).order_by(ClientSecret.id))
    assert len(rows) == 3
    assert rows[0].expires_at < start + timedelta(hours=1)
    assert start + timedelta(days=2) <= rows[1].expires_at <= end + timedelta(days=2)
    assert rows[2].expires_at is None


async def test_rotate_secret_with_zero_overlap_expires_the_old_secret_now(tenant: Tenant) -> None:
    await make_client(tenant)
    start = admin.now_utc()
    await tenant.run(lambda s: admin.rotate_secret(s, "Import Job", timedelta(0)))
    end = admin.now_utc()
    rows = await stored(tenant, select(ClientSecret).order_by(ClientSecret.id))
    assert start <= rows[0].expires_at <= end
    assert rows[1].expires_at is None


async def test_rotate_secret_refusals(tenant: Tenant) -> None:
    await make_client(tenant, "Web App", app_type="spa")
    await make_client(tenant)
    assert await refused(
        tenant, lambda s: admin.rotate_secret(s, "Web App", timedelta(hours=1))
    ) == ("client 'Web App' is public and has no secret")
    assert await refused(
        tenant, lambda s: admin.rotate_secret(s, "Import Job", timedelta(hours=1), "short")
    ) == ("a client secret must be at least 32 characters")
    assert await refused(
        tenant, lambda s: admin.rotate_secret(s, "Ghost Job", timedelta(hours=1))
    ) == ("no client named 'Ghost Job'")
    [row] = await stored(tenant, select(ClientSecret))
    assert row.expires_at is None


async def test_delete_client_removes_its_secrets_and_grants(tenant: Tenant) -> None:
    await tenant.create_api()
    client = await tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    await tenant.run(lambda s: admin.rotate_secret(s, "Import Job", timedelta(hours=1)))
    await tenant.run(lambda s: admin.delete_client(s, client.client_id))
    assert await counts(tenant) == {**EMPTY, "resource_servers": 1, "scopes": 5}
    assert await refused(tenant, lambda s: admin.delete_client(s, "Import Job")) == (
        "no client named 'Import Job'"
    )


# -- grants ----------------------------------------------------------------------------


async def test_add_grant_refuses_a_scope_the_api_does_not_define(tenant: Tenant) -> None:
    await tenant.create_api(name="Timesheets API")
    await make_client(tenant)
    message = await refused(
        tenant,
        lambda s: admin.add_grant(
            s, "Import Job", AUDIENCE, ["read:timesheets", "fly:kites", "sing:songs"]
        ),
    )
    assert message == "API 'Timesheets API' has no scope fly:kites, sing:songs"
    assert (await counts(tenant))["client_grants"] == 0


async def test_add_grant_refuses_unknown_client_or_api(tenant: Tenant) -> None:
    await tenant.create_api()
    await make_client(tenant)
    assert await refused(
        tenant, lambda s: admin.add_grant(s, "Ghost Job", AUDIENCE, ["read:timesheets"])
    ) == ("no client named 'Ghost Job'")
    assert await refused(
        tenant, lambda s: admin.add_grant(s, "Import Job", OTHER, ["read:timesheets"])
    ) == (f"no API named {OTHER!r}")


async def test_add_grant_twice_replaces_the_scopes_of_the_one_grant(tenant: Tenant) -> None:
    await tenant.create_api()
    created = await make_client(tenant)
    first = await grant(tenant, "Import Job", AUDIENCE, ["read:timesheets"])
    second = await grant(
        tenant,
        created.client.client_id,
        "https://api.timesheets.test",
        ["create:timesheets", "batch:upload", "create:timesheets"],
    )
    assert second.id == first.id
    assert await grant_rows(tenant) == [
        ("Import Job", AUDIENCE, ["batch:upload", "create:timesheets"])
    ]
    assert (await counts(tenant))["client_grants"] == 1


async def test_add_grant_with_no_scopes_keeps_an_empty_grant(tenant: Tenant) -> None:
    await tenant.create_api()
    await make_client(tenant)
    await grant(tenant, "Import Job", AUDIENCE, [])
    assert await grant_rows(tenant) == [("Import Job", AUDIENCE, [])]


async def test_remove_grant_withdraws_it_and_refuses_a_missing_one(tenant: Tenant) -> None:
    await tenant.create_api(name="Timesheets API")
    await tenant.create_api(OTHER, name="Other API")
    await tenant.machine_client({AUDIENCE: ["read:timesheets"], OTHER: ["batch:upload"]})
    await tenant.run(lambda s: admin.remove_grant(s, "Import Job", OTHER))
    assert await grant_rows(tenant) == [("Import Job", AUDIENCE, ["read:timesheets"])]
    assert await refused(tenant, lambda s: admin.remove_grant(s, "Import Job", "Other API")) == (
        "client 'Import Job' has no grant for API 'Other API'"
    )


async def test_list_grants_orders_by_client_then_api_and_filters_by_client(
    tenant: Tenant,
) -> None:
    await tenant.create_api(name="Timesheets API")
    await tenant.create_api(OTHER, name="Other API")
    await tenant.machine_client({AUDIENCE: ["batch:upload"]}, name="Zeta Job")
    alpha = await tenant.machine_client(
        {AUDIENCE: ["read:timesheets"], OTHER: ["approve:timesheets"]}, name="Alpha Job"
    )
    assert await grant_rows(tenant) == [
        ("Alpha Job", OTHER, ["approve:timesheets"]),
        ("Alpha Job", AUDIENCE, ["read:timesheets"]),
        ("Zeta Job", AUDIENCE, ["batch:upload"]),
    ]
    mine = await tenant.run(lambda s: admin.list_grants(s, alpha.client_id))
    assert [(c.name, a.name) for c, a, _g in mine] == [
        ("Alpha Job", "Other API"),
        ("Alpha Job", "Timesheets API"),
    ]
    assert await tenant.run(lambda s: admin.list_grants(s, "Zeta Job")) != []
    assert await refused(tenant, lambda s: admin.list_grants(s, "Ghost Job")) == (
        "no client named 'Ghost Job'"
    )


def test_a_generated_client_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command line would read such an id as an option."""
    drawn = iter(["-79HNdpjIgN1f378b8mDFEQp7uwuPzXx", "_9HNdpjIgN1f378b8mDFEQp7uwuPzXx7"])
    monkeypatch.setattr(admin.secrets, "token_urlsafe", lambda _size: next(drawn))
    assert admin.new_client_id() == "_9HNdpjIgN1f378b8mDFEQp7uwuPzXx7"


async def test_a_grant_to_a_machine_client_without_client_credentials_names_grant_types(
    tenant: Tenant,
) -> None:
    """Unreachable through the rules (a machine client always has the grant type), but a
    row changed by hand is refused naming the field rather than granted."""
    await tenant.create_api()
    client = await tenant.machine_client()

    async def work(session: AsyncSession) -> None:
        row = await session.get(Client, client.client_id)
        assert row is not None
        row.grant_types = []
        await session.flush()
        await admin.add_grant(session, client.client_id, AUDIENCE, ["read:timesheets"])

    with pytest.raises(admin.TenantError) as refused:
        await tenant.run(work)
    assert refused.value.field == "grant_types"
    assert await counts(tenant) == EMPTY | {"resource_servers": 1, "scopes": 5} | {
        "clients": 1,
        "client_secrets": 1,
    }
