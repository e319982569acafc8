"""The tenant's rules: create, change and delete APIs, clients and grants.

One place for the rules, shared by the `timesheets admin` commands and config as code.
Every function works in the caller's session; the caller commits once, so a failed
step leaves nothing half-applied.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import audit
from timesheets.authserver.key_lifetimes import cover_lifetime
from timesheets.authserver.keys import SIGNING_ALGS
from timesheets.authserver.models import Client, ClientGrant, ClientSecret, ResourceServer, Scope
from timesheets.authserver.oauth.client_auth import generate_secret, secret_digest
from timesheets.authserver.oauth.scope import is_scope_token
from timesheets.authserver.sealing import Sealer

APP_TYPES = ("machine", "spa", "native", "regular_web")
GRANT_TYPES_BY_APP_TYPE = {
    "machine": ("client_credentials",),
    "spa": ("authorization_code", "refresh_token", "implicit"),
    "native": ("authorization_code", "refresh_token"),
    "regular_web": ("authorization_code", "refresh_token", "client_credentials"),
}
DEFAULT_GRANT_TYPES = {
    "machine": ("client_credentials",),
    "spa": ("authorization_code", "refresh_token"),
    "native": ("authorization_code", "refresh_token"),
    "regular_web": ("authorization_code", "refresh_token"),
}
CONFIDENTIAL_METHODS = ("client_secret_post", "client_secret_basic")
MIN_LIFETIME, MAX_LIFETIME = 60, 30 * 86400
DEFAULT_TOKEN_LIFETIME = 3600
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")


class TenantError(Exception):
    """A change the tenant's rules refuse; the message says why, `field` names the input."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(TenantError):
    """The thing named does not exist."""


class Conflict(TenantError):
    """The change contradicts what exists (a duplicate name, an API still granted)."""


MANAGEMENT_PATH = "/api/v2/"
MANAGEMENT_SCOPES = {
    f"{action}:{resource}": f"{action.capitalize()} {resource.replace('_', ' ')}"
    for resource in ("resource_servers", "clients", "client_grants", "users", "roles")
    for action in ("read", "create", "update", "delete")
} | {
    "read:signing_keys": "Read signing keys",
    "create:signing_keys": "Rotate signing keys",
    "read:logs": "Read the audit log",
}


def now_utc() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def _check_name(kind: str, name: str) -> str:
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise TenantError(f"{kind} name must be 1-200 printable characters", "name")
    return name


def _check_scope(value: str) -> str:
    if not is_scope_token(value) or len(value) > 280:
        raise TenantError(f"scope {value!r} is not a valid scope token (RFC 6749 3.3)", "scopes")
    return value


def _check_identifier(identifier: str) -> str:
    if not identifier or len(identifier) > 600 or not is_scope_token(identifier):
        raise TenantError(
            "API identifier must be 1-600 printable characters without spaces", "identifier"
        )
    parts = urlsplit(identifier)
    if not parts.scheme or parts.fragment:
        raise TenantError("API identifier must be an absolute URI without a fragment", "identifier")
    return identifier


def _check_lifetime(seconds: int) -> int:
    if not MIN_LIFETIME <= seconds <= MAX_LIFETIME:
        raise TenantError(
            f"token lifetime must be between {MIN_LIFETIME} and {MAX_LIFETIME} s", "token_lifetime"
        )
    return seconds


def _check_redirect_uri(uri: str, field: str = "redirect_uris") -> str:
    parts = urlsplit(uri)
    if not parts.scheme or not parts.netloc or parts.fragment or "#" in uri:
        kind = "post-logout redirect URI" if field != "redirect_uris" else "redirect URI"
        raise TenantError(f"{kind} {uri!r} must be absolute and have no fragment", field)
    return uri


def _check_post_logout_uris(uris: tuple[str, ...]) -> list[str]:
    """OpenID Connect RP-Initiated Logout 1.0 §3.1: post_logout_redirect_uris, absolute."""
    return [_check_redirect_uri(u, "post_logout_redirect_uris") for u in uris]


def _check_origin(origin: str) -> str:
    if not _ORIGIN.fullmatch(origin):
        raise TenantError(f"web origin {origin!r} must be scheme://host[:port]", "web_origins")
    return origin


# -- APIs ------------------------------------------------------------------------------


def _editable(api: ResourceServer) -> ResourceServer:
    if api.is_system:
        raise Conflict(f"API {api.name!r} is built in and cannot be changed or deleted")
    return api


def _modified(row: object, attr: str) -> bool:
    history = inspect(row).attrs[attr].history
    return bool(history.added or history.deleted)


async def find_api(session: AsyncSession, ref: str) -> ResourceServer:
    """An API by identifier, else by name, else by id (in that order, so a ref that is one
    API's identifier and another's name means the first)."""
    for column in (ResourceServer.identifier, ResourceServer.name, ResourceServer.id):
        api = await session.scalar(select(ResourceServer).where(column == ref))
        if api is not None:
            return api
    raise NotFound(f"no API named {ref!r}")


async def api_by_id(session: AsyncSession, api_id: str) -> ResourceServer:
    """An API by its id alone: a page or URL naming one API never reaches another that is
    named or identified by that id."""
    api = await session.get(ResourceServer, api_id)
    if api is None:
        raise NotFound(f"no API {api_id!r}")
    return api


async def identifier_of(session: AsyncSession, api_id: str) -> str:
    """The identifier of the API with id `api_id`: the unambiguous reference to it."""
    return (await api_by_id(session, api_id)).identifier


async def list_apis(session: AsyncSession) -> list[ResourceServer]:
    """Every API, by name."""
    return list((await session.scalars(select(ResourceServer).order_by(ResourceServer.name))).all())


@dataclass
class CreatedApi:
    """A new API; its HS256 secret is shown once and never again."""

    api: ResourceServer
    hs256_secret: str | None
    test_client: CreatedClient | None


async def create_api(
    session: AsyncSession,
    sealer: Sealer,
    *,
    name: str,
    identifier: str,
    signing_alg: str = "RS256",
    token_lifetime: int = DEFAULT_TOKEN_LIFETIME,
    scopes: dict[str, str] | None = None,
    permissions_claim: bool = False,
    create_test_client: bool = False,
) -> CreatedApi:
    """Register an API with its scopes; optionally its test machine client with all of them."""
    name = _check_name("API", name)
    _check_identifier(identifier)
    if signing_alg not in SIGNING_ALGS:
        raise TenantError(
            f"signing algorithm must be one of {', '.join(SIGNING_ALGS)}", "signing_alg"
        )
    taken = await session.scalar(
        select(ResourceServer.id).where(
            or_(ResourceServer.identifier == identifier, ResourceServer.name == name)
        )
    )
    if taken is not None:
        raise Conflict(
            f"an API named {name!r} or identified {identifier!r} already exists", "identifier"
        )
    api = ResourceServer(
        id="api_" + secrets.token_hex(8),
        name=name,
        identifier=identifier,
        signing_alg=signing_alg,
        token_lifetime=_check_lifetime(token_lifetime),
        permissions_claim=permissions_claim,
        created_at=now_utc(),
        scopes=[],
    )
    hs256_secret = None
    if signing_alg == "HS256":
        hs256_secret = secrets.token_urlsafe(32)
        api.sealed_secret = sealer.seal(hs256_secret.encode(), f"api-secret:{api.id}")
    for value, description in (scopes or {}).items():
        api.scopes.append(Scope(value=_check_scope(value), description=description))
    session.add(api)
    await session.flush()
    await cover_lifetime(session, api.token_lifetime)
    await audit.change(
        session,
        "api.created",
        api.identifier,
        name=api.name,
        signing_alg=signing_alg,
        scopes=sorted(scopes or {}),
    )
    test_client = None
    if create_test_client:
        test_client = await create_client(
            session, name=f"{name} (Test Application)", app_type="machine"
        )
        await add_grant(session, test_client.client.client_id, api.identifier, list(scopes or {}))
    return CreatedApi(api=api, hs256_secret=hs256_secret, test_client=test_client)


async def update_api(
    session: AsyncSession,
    ref: str,
    *,
    name: str | None = None,
    token_lifetime: int | None = None,
    permissions_claim: bool | None = None,
) -> ResourceServer:
    """Change an API's mutable settings (the identifier and algorithm are immutable)."""
    api = _editable(await find_api(session, ref))
    if name is not None and name != api.name:
        name = _check_name("API", name)
        taken = await session.scalar(select(ResourceServer.id).where(ResourceServer.name == name))
        if taken is not None:
            raise Conflict(f"an API named {name!r} already exists", "name")
        api.name = name
    if token_lifetime is not None:
        api.token_lifetime = _check_lifetime(token_lifetime)
        await cover_lifetime(session, api.token_lifetime)
    if permissions_claim is not None:
        api.permissions_claim = permissions_claim
    changed = sorted(
        attr for attr in ("name", "token_lifetime", "permissions_claim") if _modified(api, attr)
    )
    if changed:
        await audit.change(session, "api.updated", api.identifier, changed=changed)
    return api


async def delete_api(session: AsyncSession, ref: str) -> None:
    """Delete an API that no client is granted any more."""
    api = _editable(await find_api(session, ref))
    grants = await session.scalar(
        select(ClientGrant.id).where(ClientGrant.resource_server_id == api.id).limit(1)
    )
    if grants is not None:
        raise Conflict(f"API {api.name!r} still has client grants; remove them first")
    await session.delete(api)
    await audit.change(session, "api.deleted", api.identifier, name=api.name)


async def add_scope(session: AsyncSession, ref: str, value: str, description: str = "") -> Scope:
    """Add a scope to an API."""
    api = _editable(await find_api(session, ref))
    if any(scope.value == value for scope in api.scopes):
        raise Conflict(f"API {api.name!r} already has scope {value!r}", "scopes")
    scope = Scope(value=_check_scope(value), description=description)
    api.scopes.append(scope)
    await audit.change(session, "api.scope_added", api.identifier, scope=value)
    return scope


async def remove_scope(session: AsyncSession, ref: str, value: str) -> None:
    """Remove a scope from an API and from every grant of it."""
    api = _editable(await find_api(session, ref))
    scope = next((s for s in api.scopes if s.value == value), None)
    if scope is None:
        raise NotFound(f"API {api.name!r} has no scope {value!r}", "scopes")
    api.scopes.remove(scope)
    for grant in await session.scalars(
        select(ClientGrant).where(ClientGrant.resource_server_id == api.id)
    ):
        grant.scopes = [s for s in grant.scopes if s != value]
    await audit.change(session, "api.scope_removed", api.identifier, scope=value)


async def set_scopes(session: AsyncSession, ref: str, scopes: dict[str, str]) -> None:
    """Make an API's scopes exactly `scopes` {value: description}."""
    api = _editable(await find_api(session, ref))
    for value in [scope.value for scope in api.scopes if scope.value not in scopes]:
        await remove_scope(session, ref, value)
    for value, description in scopes.items():
        existing = next((s for s in api.scopes if s.value == value), None)
        if existing is None:
            await add_scope(session, ref, value, description)
        elif existing.description != description:
            existing.description = description
            await audit.change(session, "api.scope_described", api.identifier, scope=value)


async def ensure_management_api(session: AsyncSession, issuer: str) -> ResourceServer:
    """The built-in API of the management endpoints (`<issuer>/api/v2/`) with its scopes."""
    identifier = issuer.rstrip("/") + MANAGEMENT_PATH
    api = await session.scalar(select(ResourceServer).where(ResourceServer.is_system))
    if api is not None:
        if api.identifier != identifier:
            # The issuer moved (a new public URL): the management audience moves with it.
            await audit.change(session, "api.updated", identifier, previous=api.identifier)
            api.identifier = identifier
        missing = set(MANAGEMENT_SCOPES) - {scope.value for scope in api.scopes}
        for value in sorted(missing):
            api.scopes.append(Scope(value=value, description=MANAGEMENT_SCOPES[value]))
        if missing:
            await audit.change(session, "api.scope_added", identifier, scope=sorted(missing))
        return api
    api = ResourceServer(
        id="api_" + secrets.token_hex(8),
        name="Timesheets Management API",
        identifier=identifier,
        signing_alg="RS256",
        token_lifetime=DEFAULT_TOKEN_LIFETIME,
        permissions_claim=False,
        is_system=True,
        created_at=now_utc(),
        scopes=[Scope(value=v, description=d) for v, d in MANAGEMENT_SCOPES.items()],
    )
    session.add(api)
    await session.flush()
    await audit.change(session, "api.created", identifier, name=api.name, system=True)
    return api


# -- clients ---------------------------------------------------------------------------


@dataclass
class CreatedClient:
    """A new client; its secret is shown once and stored only as a digest."""

    client: Client
    secret: str | None


async def find_client(session: AsyncSession, ref: str) -> Client:
    """A client by id, else by name."""
    for column in (Client.client_id, Client.name):
        client = await session.scalar(select(Client).where(column == ref))
        if client is not None:
            return client
    raise NotFound(f"no client named {ref!r}")


async def list_clients(session: AsyncSession) -> list[Client]:
    """Every client, by name."""
    return list((await session.scalars(select(Client).order_by(Client.name))).all())


def _check_client_settings(app_type: str, auth_method: str, grant_types: tuple[str, ...]) -> None:
    if app_type not in APP_TYPES:
        raise TenantError(f"client type must be one of {', '.join(APP_TYPES)}", "app_type")
    public = app_type in ("spa", "native")
    allowed_methods = ("none",) if public else CONFIDENTIAL_METHODS
    if auth_method not in allowed_methods:
        raise TenantError(
            f"a {app_type} client authenticates with {' or '.join(allowed_methods)}",
            "token_endpoint_auth_method",
        )
    unknown = set(grant_types) - set(GRANT_TYPES_BY_APP_TYPE[app_type])
    if unknown or not grant_types:
        raise TenantError(
            f"a {app_type} client may use only {', '.join(GRANT_TYPES_BY_APP_TYPE[app_type])}",
            "grant_types",
        )


def new_client_id() -> str:
    """A random client id (192 bits) that does not start with "-": a command line would
    take such an id for an option (`timesheets admin grant add -x...`)."""
    while True:
        candidate = secrets.token_urlsafe(24)
        if not candidate.startswith("-"):
            return candidate


async def create_client(
    session: AsyncSession,
    *,
    name: str,
    app_type: str,
    auth_method: str | None = None,
    grant_types: tuple[str, ...] | None = None,
    redirect_uris: tuple[str, ...] = (),
    web_origins: tuple[str, ...] = (),
    client_id: str | None = None,
    secret: str | None = None,
    first_party: bool = True,
    post_logout_redirect_uris: tuple[str, ...] = (),
) -> CreatedClient:
    """Register a client; a confidential one gets a generated 256-bit secret.

    A third-party client (`first_party=False`) asks people for their consent.
    """
    name = _check_name("client", name)
    public = app_type in ("spa", "native")
    auth_method = auth_method or ("none" if public else "client_secret_post")
    grant_types = grant_types or DEFAULT_GRANT_TYPES.get(app_type, ())
    _check_client_settings(app_type, auth_method, grant_types)
    client_id = client_id or new_client_id()
    if not re.fullmatch(r"[A-Za-z0-9._~\-]{8,64}", client_id):
        raise TenantError("client_id must be 8-64 unreserved URL characters", "client_id")
    if await session.scalar(select(Client.client_id).where(Client.name == name)) is not None:
        raise Conflict(f"a client named {name!r} already exists", "name")
    if await session.get(Client, client_id) is not None:
        raise Conflict(f"a client with client_id {client_id!r} already exists", "client_id")
    client = Client(
        client_id=client_id,
        name=name,
        app_type=app_type,
        token_endpoint_auth_method=auth_method,
        grant_types=list(grant_types),
        redirect_uris=[_check_redirect_uri(u) for u in redirect_uris],
        web_origins=[_check_origin(o) for o in web_origins],
        first_party=first_party,
        post_logout_redirect_uris=_check_post_logout_uris(post_logout_redirect_uris),
        created_at=now_utc(),
        secrets=[],
    )
    if not public:
        if secret is not None and len(secret) < 32:
            raise TenantError("a client secret must be at least 32 characters", "secret")
        secret = secret or generate_secret()
        client.secrets.append(ClientSecret(digest=secret_digest(secret), created_at=now_utc()))
    else:
        secret = None
    session.add(client)
    await session.flush()
    await audit.change(
        session, "client.created", client_id, name=name, app_type=app_type, auth_method=auth_method
    )
    return CreatedClient(client=client, secret=secret)


async def update_client(
    session: AsyncSession,
    ref: str,
    *,
    name: str | None = None,
    enabled: bool | None = None,
    auth_method: str | None = None,
    grant_types: tuple[str, ...] | None = None,
    redirect_uris: tuple[str, ...] | None = None,
    web_origins: tuple[str, ...] | None = None,
    first_party: bool | None = None,
    post_logout_redirect_uris: tuple[str, ...] | None = None,
) -> list[str]:
    """Change a client's settings under the same rules as creation; returns what changed.

    A disabled client is refused everywhere as if it did not exist, until enabled again.
    """
    client = await find_client(session, ref)
    method = auth_method or client.token_endpoint_auth_method
    grants = grant_types if grant_types is not None else tuple(client.grant_types)
    _check_client_settings(client.app_type, method, grants)
    changes = []
    if name is not None and name != client.name:
        name = _check_name("client", name)
        if await session.scalar(select(Client.client_id).where(Client.name == name)) is not None:
            raise Conflict(f"a client named {name!r} already exists", "name")
        client.name = name
        changes.append("name")
    if enabled is not None and enabled != client.enabled:
        client.enabled = enabled
        changes.append("enabled")
    if method != client.token_endpoint_auth_method:
        client.token_endpoint_auth_method = method
        changes.append("token_endpoint_auth_method")
    if list(grants) != client.grant_types:
        client.grant_types = list(grants)
        changes.append("grant_types")
    if redirect_uris is not None and list(redirect_uris) != client.redirect_uris:
        client.redirect_uris = [_check_redirect_uri(u) for u in redirect_uris]
        changes.append("redirect_uris")
    if web_origins is not None and list(web_origins) != client.web_origins:
        client.web_origins = [_check_origin(o) for o in web_origins]
        changes.append("web_origins")
    if first_party is not None and first_party != client.first_party:
        client.first_party = first_party
        changes.append("first_party")
    if (
        post_logout_redirect_uris is not None
        and list(post_logout_redirect_uris) != client.post_logout_redirect_uris
    ):
        client.post_logout_redirect_uris = _check_post_logout_uris(post_logout_redirect_uris)
        changes.append("post_logout_redirect_uris")
    if changes:
        await audit.change(session, "client.updated", client.client_id, changed=changes)
    return changes


async def rotate_secret(
    session: AsyncSession, ref: str, overlap: timedelta, secret: str | None = None
) -> str:
    """Add a new secret; the previous ones keep working for `overlap`, then stop."""
    client = await find_client(session, ref)
    if client.token_endpoint_auth_method == "none":
        raise TenantError(f"client {client.name!r} is public and has no secret", "client_id")
    if secret is not None and len(secret) < 32:
        raise TenantError("a client secret must be at least 32 characters", "secret")
    if not timedelta(0) <= overlap <= timedelta(seconds=MAX_LIFETIME):
        raise TenantError(f"the overlap must be between 0 and {MAX_LIFETIME} s", "overlap")
    now = now_utc()
    for old in client.secrets:
        if old.expires_at is None or old.expires_at > now + overlap:
            old.expires_at = now + overlap
    secret = secret or generate_secret()
    client.secrets.append(ClientSecret(digest=secret_digest(secret), created_at=now))
    await audit.change(
        session, "client.secret_rotated", client.client_id, overlap_seconds=overlap.total_seconds()
    )
    return secret


async def delete_client(session: AsyncSession, ref: str) -> None:
    """Delete a client and its grants."""
    client = await find_client(session, ref)
    await session.delete(client)
    await audit.change(session, "client.deleted", client.client_id, name=client.name)


# -- grants ----------------------------------------------------------------------------


async def add_grant(
    session: AsyncSession, client_ref: str, api_ref: str, scopes: list[str]
) -> ClientGrant:
    """Grant a client scopes of an API (or replace the scopes of its existing grant)."""
    client = await find_client(session, client_ref)
    api = await find_api(session, api_ref)
    defined = {scope.value for scope in api.scopes}
    unknown = [s for s in scopes if s not in defined]
    if unknown:
        raise TenantError(f"API {api.name!r} has no scope {', '.join(unknown)}", "scopes")
    if "client_credentials" not in client.grant_types and client.app_type == "machine":
        raise TenantError(
            f"client {client.name!r} cannot use the client credentials grant", "grant_types"
        )
    grant = await session.scalar(
        select(ClientGrant).where(
            ClientGrant.client_id == client.client_id, ClientGrant.resource_server_id == api.id
        )
    )
    if grant is None:
        grant = ClientGrant(
            client_id=client.client_id, resource_server_id=api.id, scopes=[], created_at=now_utc()
        )
        session.add(grant)
    grant.scopes = sorted(set(scopes))
    await session.flush()
    await audit.change(
        session, "grant.saved", client.client_id, audience=api.identifier, scopes=grant.scopes
    )
    return grant


async def remove_grant(session: AsyncSession, client_ref: str, api_ref: str) -> None:
    """Withdraw a client's grant for an API."""
    client = await find_client(session, client_ref)
    api = await find_api(session, api_ref)
    grant = await session.scalar(
        select(ClientGrant).where(
            ClientGrant.client_id == client.client_id, ClientGrant.resource_server_id == api.id
        )
    )
    if grant is None:
        raise NotFound(f"client {client.name!r} has no grant for API {api.name!r}")
    await session.delete(grant)
    await audit.change(session, "grant.removed", client.client_id, audience=api.identifier)


async def find_grant(session: AsyncSession, grant_id: int) -> ClientGrant:
    """A client grant by id."""
    grant = await session.get(ClientGrant, grant_id)
    if grant is None:
        raise NotFound(f"no client grant {grant_id}")
    return grant


async def list_grants(
    session: AsyncSession, client_ref: str | None = None
) -> list[tuple[Client, ResourceServer, ClientGrant]]:
    """Grants with their client and API, optionally of one client."""
    stmt = (
        select(Client, ResourceServer, ClientGrant)
        .join(ClientGrant, ClientGrant.client_id == Client.client_id)
        .join(ResourceServer, ResourceServer.id == ClientGrant.resource_server_id)
        .order_by(Client.name, ResourceServer.name)
    )
    if client_ref is not None:
        client = await find_client(session, client_ref)
        stmt = stmt.where(Client.client_id == client.client_id)
    return [(c, a, g) for c, a, g in (await session.execute(stmt)).all()]
