"""`timesheets admin`: configure APIs, scopes, clients, grants and keys from the shell.

Each command runs in one transaction; a refused change prints why and exits 1.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
import tomllib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from timesheets.settings import default_data_dir

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from timesheets.authserver import admin
    from timesheets.authserver.runtime import Runtime

# The tenant's modules (and SQLAlchemy) are imported when a command runs, so that other
# commands of the `timesheets` program, such as the import job, start quickly.
DEFAULT_TOKEN_LIFETIME = 3600

T = TypeVar("T")
admin_app = typer.Typer(help="Configure the authorization server's tenant.", no_args_is_help=True)
api_app = typer.Typer(help="APIs (resource servers).", no_args_is_help=True)
scope_app = typer.Typer(help="Scopes of an API.", no_args_is_help=True)
client_app = typer.Typer(help="Clients (applications).", no_args_is_help=True)
grant_app = typer.Typer(
    help="Which client may get which scopes of which API.", no_args_is_help=True
)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
for sub, name in (
    (api_app, "api"),
    (scope_app, "scope"),
    (client_app, "client"),
    (grant_app, "grant"),
    (keys_app, "keys"),
):
    admin_app.add_typer(sub, name=name)

out = Console()
err = Console(stderr=True)
DataDir = Annotated[Path, typer.Option("--data-dir", envvar="TIMESHEETS_DATA_DIR")]


@admin_app.callback()
def _options(ctx: typer.Context, data_dir: DataDir = default_data_dir()) -> None:
    ctx.obj = data_dir


def _run(ctx: typer.Context, work: Callable[[Runtime, AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction against the configured database."""
    from timesheets.authserver import admin
    from timesheets.authserver.app import WrongKeyEncryptionKey, create_runtime, prepare
    from timesheets.cli import auth_settings
    from timesheets.db import NotMigrated

    settings = auth_settings(ctx.find_root().obj if ctx.find_root().obj else ctx.obj)

    async def go() -> T:
        runtime = create_runtime(settings)
        try:
            await prepare(runtime)
            async with runtime.change(f"cli:{getpass.getuser()}") as session:
                return await work(runtime, session)
        finally:
            await runtime.engine.dispose()

    try:
        return asyncio.run(go())
    except (admin.TenantError, WrongKeyEncryptionKey) as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    except NotMigrated as error:
        err.print(
            f"[red]error:[/red] the database lacks migrations ({error}) and they are off"
            " (TIMESHEETS_AUTH_MIGRATE=false); start the authorization server once with"
            " them on"
        )
        raise typer.Exit(1) from None


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[str(cell) for cell in row])
    out.print(table)


def _show_secret(label: str, secret: str) -> None:
    out.print(f"{label}: {secret}")
    err.print("[yellow]Store it now: it is shown once and kept only as a digest.[/yellow]")


# -- api -------------------------------------------------------------------------------


@api_app.command("create")
def api_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Display name.")],
    identifier: Annotated[str, typer.Option(help="The audience; immutable.")],
    signing_alg: Annotated[
        str, typer.Option(help="RS256, PS256, ES256, EdDSA or HS256.")
    ] = "RS256",
    token_lifetime: Annotated[
        int, typer.Option(help="Access-token lifetime, seconds.")
    ] = DEFAULT_TOKEN_LIFETIME,
    scope: Annotated[list[str] | None, typer.Option(help="name=description; repeatable.")] = None,
    permissions_claim: Annotated[bool, typer.Option(help="Add a permissions claim.")] = False,
    test_client: Annotated[bool, typer.Option(help="Also create its test machine client.")] = False,
) -> None:
    """Register an API."""
    from timesheets.authserver import admin

    scopes = dict(item.partition("=")[::2] for item in scope or [])

    async def work(runtime: Runtime, session: AsyncSession) -> admin.CreatedApi:
        return await admin.create_api(
            session,
            runtime.sealer,
            name=name,
            identifier=identifier,
            signing_alg=signing_alg,
            token_lifetime=token_lifetime,
            scopes=scopes,
            permissions_claim=permissions_claim,
            create_test_client=test_client,
        )

    created = _run(ctx, work)
    out.print(f"created API {created.api.name} ({created.api.identifier}) id {created.api.id}")
    if created.hs256_secret:
        _show_secret("HS256 secret (configure the API with it)", created.hs256_secret)
    if created.test_client and created.test_client.secret:
        out.print(f"test client_id: {created.test_client.client.client_id}")
        _show_secret("test client_secret", created.test_client.secret)


@api_app.command("list")
def api_list(ctx: typer.Context) -> None:
    """List the APIs."""
    from timesheets.authserver import admin

    apis = _run(ctx, lambda _r, s: admin.list_apis(s))
    _table(
        "APIs",
        ["name", "identifier", "alg", "lifetime", "scopes"],
        [
            [
                a.name,
                a.identifier,
                a.signing_alg,
                a.token_lifetime,
                " ".join(s.value for s in a.scopes),
            ]
            for a in apis
        ],
    )


@api_app.command("show")
def api_show(ctx: typer.Context, api: str) -> None:
    """Show one API with its scopes."""
    from timesheets.authserver import admin

    found = _run(ctx, lambda _r, s: admin.find_api(s, api))
    out.print(f"name: {found.name}\nidentifier: {found.identifier}\nid: {found.id}")
    out.print(f"signing_alg: {found.signing_alg}\ntoken_lifetime: {found.token_lifetime}")
    out.print(f"permissions_claim: {found.permissions_claim}")
    _table("scopes", ["scope", "description"], [[s.value, s.description] for s in found.scopes])


@api_app.command("delete")
def api_delete(ctx: typer.Context, api: str) -> None:
    """Delete an API that no client is granted."""
    from timesheets.authserver import admin

    _run(ctx, lambda _r, s: admin.delete_api(s, api))
    out.print(f"deleted API {api}")


# -- scope -----------------------------------------------------------------------------


@scope_app.command("add")
def scope_add(ctx: typer.Context, api: str, scope: str, description: str = "") -> None:
    """Add a scope to an API."""
    from timesheets.authserver import admin

    _run(ctx, lambda _r, s: admin.add_scope(s, api, scope, description))
    out.print(f"added scope {scope} to {api}")


@scope_app.command("remove")
def scope_remove(ctx: typer.Context, api: str, scope: str) -> None:
    """Remove a scope from an API and from every grant of it."""
    from timesheets.authserver import admin

    _run(ctx, lambda _r, s: admin.remove_scope(s, api, scope))
    out.print(f"removed scope {scope} from {api}")


# -- client ----------------------------------------------------------------------------


@client_app.command("create")
def client_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Display name.")],
    type_: Annotated[
        str, typer.Option("--type", help="machine, spa, native or regular_web.")
    ] = "machine",
    auth_method: Annotated[
        str | None, typer.Option(help="client_secret_post, client_secret_basic or none.")
    ] = None,
    grant_type: Annotated[
        list[str] | None, typer.Option(help="Allowed grant type; repeatable.")
    ] = None,
    redirect_uri: Annotated[list[str] | None, typer.Option(help="Repeatable.")] = None,
    web_origin: Annotated[list[str] | None, typer.Option(help="Repeatable.")] = None,
    post_logout_redirect_uri: Annotated[
        list[str] | None, typer.Option(help="Where a logout may return to; repeatable.")
    ] = None,
    third_party: Annotated[
        bool, typer.Option("--third-party", help="Ask people for consent (not our own app).")
    ] = False,
) -> None:
    """Register a client; a confidential one gets a secret, shown once."""
    from timesheets.authserver import admin

    async def work(_runtime: Runtime, session: AsyncSession) -> admin.CreatedClient:
        return await admin.create_client(
            session,
            name=name,
            app_type=type_,
            auth_method=auth_method,
            grant_types=tuple(grant_type) if grant_type else None,
            redirect_uris=tuple(redirect_uri or ()),
            web_origins=tuple(web_origin or ()),
            first_party=not third_party,
            post_logout_redirect_uris=tuple(post_logout_redirect_uri or ()),
        )

    created = _run(ctx, work)
    out.print(f"client_id: {created.client.client_id}")
    if created.secret:
        _show_secret("client_secret", created.secret)


@client_app.command("list")
def client_list(ctx: typer.Context) -> None:
    """List the clients."""
    from timesheets.authserver import admin

    clients = _run(ctx, lambda _r, s: admin.list_clients(s))
    _table(
        "clients",
        ["name", "client_id", "type", "auth method", "grant types"],
        [
            [c.name, c.client_id, c.app_type, c.token_endpoint_auth_method, " ".join(c.grant_types)]
            for c in clients
        ],
    )


@client_app.command("show")
def client_show(ctx: typer.Context, client: str) -> None:
    """Show one client (never its secret)."""
    from timesheets.authserver import admin

    found = _run(ctx, lambda _r, s: admin.find_client(s, client))
    for key in (
        "name",
        "client_id",
        "app_type",
        "token_endpoint_auth_method",
        "grant_types",
        "redirect_uris",
        "web_origins",
        "post_logout_redirect_uris",
        "first_party",
    ):
        out.print(f"{key}: {getattr(found, key)}")
    _table(
        "secrets",
        ["created", "expires"],
        [[s.created_at, s.expires_at or "never"] for s in found.secrets],
    )


@client_app.command("rotate-secret")
def client_rotate_secret(
    ctx: typer.Context,
    client: str,
    overlap: Annotated[int, typer.Option(help="Seconds the old secret keeps working.")] = 86400,
) -> None:
    """Issue a new secret; the old one keeps working for the overlap period."""
    from timesheets.authserver import admin

    secret = _run(ctx, lambda _r, s: admin.rotate_secret(s, client, timedelta(seconds=overlap)))
    _show_secret("client_secret", secret)


@client_app.command("delete")
def client_delete(ctx: typer.Context, client: str) -> None:
    """Delete a client and its grants."""
    from timesheets.authserver import admin

    _run(ctx, lambda _r, s: admin.delete_client(s, client))
    out.print(f"deleted client {client}")


@client_app.command("disable")
def client_disable(ctx: typer.Context, client: str) -> None:
    """Shut a client out: every server refuses it within half a second."""
    from timesheets.authserver import admin

    _run(ctx, lambda _r, s: admin.update_client(s, client, enabled=False))
    out.print(f"disabled client {client}")


@client_app.command("enable")
def client_enable(ctx: typer.Context, client: str) -> None:
    """Let a disabled client in again."""
    from timesheets.authserver import admin

    _run(ctx, lambda _r, s: admin.update_client(s, client, enabled=True))
    out.print(f"enabled client {client}")


# -- grant -----------------------------------------------------------------------------


@grant_app.command("add")
def grant_add(ctx: typer.Context, client: str, api: str, scopes: list[str]) -> None:
    """Grant a client scopes of an API (replacing an existing grant's scopes)."""
    from timesheets.authserver import admin

    _run(ctx, lambda _r, s: admin.add_grant(s, client, api, scopes))
    out.print(f"granted {client} {' '.join(scopes)} on {api}")


@grant_app.command("remove")
def grant_remove(ctx: typer.Context, client: str, api: str) -> None:
    """Withdraw a client's grant for an API."""
    from timesheets.authserver import admin

    _run(ctx, lambda _r, s: admin.remove_grant(s, client, api))
    out.print(f"removed the grant of {client} on {api}")


@grant_app.command("list")
def grant_list(ctx: typer.Context, client: Annotated[str | None, typer.Option()] = None) -> None:
    """List client grants."""
    from timesheets.authserver import admin

    grants = _run(ctx, lambda _r, s: admin.list_grants(s, client))
    _table(
        "grants",
        ["client", "client_id", "api", "scopes"],
        [[c.name, c.client_id, a.identifier, " ".join(g.scopes)] for c, a, g in grants],
    )


# -- keys ------------------------------------------------------------------------------


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List signing keys and their states."""
    from timesheets.authserver.store import key_record, load_keys

    async def work(runtime: Runtime, session: AsyncSession) -> list[list[Any]]:
        now = runtime.now()
        return [
            [
                r.kid,
                r.alg,
                key_record(r).state(now),
                r.created_at,
                r.activated_at or "",
                r.retire_at or "",
            ]
            for r in await load_keys(session)
        ]

    _table(
        "signing keys", ["kid", "alg", "state", "created", "activated", "retires"], _run(ctx, work)
    )


@keys_app.command("rotate")
def keys_rotate(
    ctx: typer.Context,
    alg: Annotated[str, typer.Option(help="Algorithm whose key rotates.")] = "RS256",
    force: Annotated[
        bool,
        typer.Option(
            help="Promote the next key even if it was published too recently for resource"
            " servers to know it (TIMESHEETS_AUTH_KEY_MIN_PUBLISHED_SECONDS)."
        ),
    ] = False,
) -> None:
    """Sign with the published next key; keep the old one published until its tokens expire.

    Refused (exit 1) when the algorithm has no key, or its next key is too recent."""

    async def work(runtime: Runtime, session: AsyncSession) -> tuple[str, str, str]:
        publish_for = await runtime.longest_token_lifetime()
        return await runtime.rotate_keys(session, alg, publish_for, force=force)

    promoted, demoted, fresh = _run(ctx, work)
    out.print(f"signing with {promoted}; {demoted} stays published until its tokens expire")
    out.print(f"next key {fresh} is published and signs at the next rotation")


# -- config as code --------------------------------------------------------------------


@admin_app.command("apply")
def apply_command(ctx: typer.Context, file: Path) -> None:
    """Create or update the tenant from a TOML file, all or nothing."""
    from timesheets.authserver import config_as_code

    try:
        document = tomllib.loads(file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        err.print(f"[red]error:[/red] cannot read {file}: {error}")
        raise typer.Exit(1) from None

    report = _run(ctx, lambda r, s: config_as_code.apply(s, r.sealer, document))
    for change in report.changes or ["nothing to change"]:
        out.print(change)
    for name, secret in report.generated_secrets.items():
        _show_secret(f"secret of {name}", secret)


@admin_app.command("export")
def export_command(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of TOML.")] = False,
) -> None:
    """Write the tenant as TOML (or JSON), without secrets."""
    import tomli_w

    from timesheets.authserver import config_as_code

    document = _run(ctx, lambda _r, s: config_as_code.export(s))
    text = json.dumps(document, indent=2) if as_json else tomli_w.dumps(document)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


# -- audit log -------------------------------------------------------------------------


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        err.print(f"[red]error:[/red] {option} must be an ISO 8601 date or time, not {value!r}")
        raise typer.Exit(2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@admin_app.command("audit")
def audit_command(
    ctx: typer.Context,
    kind: Annotated[
        list[str] | None, typer.Option(help="Event kind, e.g. client.secret_rotated; repeatable.")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Who acted, e.g. cli:alice.")] = None,
    subject: Annotated[str | None, typer.Option(help="What it concerns (a client id, …).")] = None,
    outcome: Annotated[str | None, typer.Option(help="success or failure.")] = None,
    since: Annotated[str | None, typer.Option(help="From this ISO time (UTC if bare).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this ISO time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, newest first.")] = False,
) -> None:
    """Show the security audit log, newest first."""
    from timesheets.authserver import audit

    filters = audit.Filters(
        kinds=tuple(kind or ()),
        actor=actor,
        subject=subject,
        outcome=outcome,
        since=_when(since, "--since"),
        until=_when(until, "--until"),
    )

    async def work(_runtime: Runtime, session: AsyncSession) -> list[dict[str, Any]]:
        return [audit.event_json(e) for e in await audit.events(session, filters, limit=limit)]

    found = _run(ctx, work)
    if as_json:
        for event in found:
            sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
        return
    _table(
        "Audit log",
        ["id", "time", "kind", "outcome", "actor", "subject", "details"],
        [
            [
                e["id"],
                e["occurred_at"],
                e["kind"],
                e["outcome"],
                e["actor"],
                e["subject"],
                json.dumps(e["details"]),
            ]
            for e in found
        ],
    )


# -- users and roles -------------------------------------------------------------------

user_app = typer.Typer(help="People who log in.", no_args_is_help=True)
role_app = typer.Typer(help="Roles and their permissions.", no_args_is_help=True)
admin_app.add_typer(user_app, name="user")
admin_app.add_typer(role_app, name="role")
PASSWORD_ENV = "TIMESHEETS_USER_PASSWORD"


def _password(prompt: bool) -> str:
    """A password from TIMESHEETS_USER_PASSWORD, else asked for (never a flag)."""
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    if not prompt:
        err.print(f"[red]error:[/red] set {PASSWORD_ENV} or run on a terminal")
        raise typer.Exit(1)
    entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return entered


@user_app.command("create")
def user_create(
    ctx: typer.Context,
    email: Annotated[str, typer.Option(help="Login email.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    user_type: Annotated[str, typer.Option(help="Employee or Contractor.")] = "Employee",
    role: Annotated[list[str] | None, typer.Option(help="Role to assign; repeatable.")] = None,
) -> None:
    """Create a user; the password comes from TIMESHEETS_USER_PASSWORD or a prompt."""
    from timesheets.authserver import people

    password = _password(sys.stdin.isatty())

    async def work(_runtime: Runtime, session: AsyncSession) -> str:
        user = await people.create_user(
            session, email=email, name=name, password=password, user_type=user_type
        )
        for item in role or []:
            await people.assign_role(session, user.id, item)
        return user.id

    out.print(f"user_id: {_run(ctx, work)}")


@user_app.command("list")
def user_list(ctx: typer.Context) -> None:
    """List users with their roles."""
    from timesheets.authserver import people

    async def work(_runtime: Runtime, session: AsyncSession) -> list[list[Any]]:
        return [
            [
                u.email,
                u.id,
                u.name,
                u.user_type,
                "yes" if u.enabled else "no",
                " ".join(await people.user_roles(session, u.id)),
            ]
            for u in await people.list_users(session)
        ]

    _table("users", ["email", "id", "name", "type", "enabled", "roles"], _run(ctx, work))


@user_app.command("disable")
def user_disable(ctx: typer.Context, user: str) -> None:
    """Disable a user: no more logins or token refreshes."""
    from timesheets.authserver import people

    _run(ctx, lambda _r, s: people.set_enabled(s, user, False))
    out.print(f"disabled {user}")


@user_app.command("enable")
def user_enable(ctx: typer.Context, user: str) -> None:
    """Enable a disabled user again."""
    from timesheets.authserver import people

    _run(ctx, lambda _r, s: people.set_enabled(s, user, True))
    out.print(f"enabled {user}")


@user_app.command("set-password")
def user_set_password(ctx: typer.Context, user: str) -> None:
    """Set a user's password (from TIMESHEETS_USER_PASSWORD or a prompt)."""
    from timesheets.authserver import people

    password = _password(sys.stdin.isatty())
    _run(ctx, lambda _r, s: people.set_password(s, user, password))
    out.print(f"password set for {user}")


@user_app.command("assign-role")
def user_assign_role(ctx: typer.Context, user: str, role: str) -> None:
    """Give a user a role."""
    from timesheets.authserver import people

    _run(ctx, lambda _r, s: people.assign_role(s, user, role))
    out.print(f"{user} has role {role}")


@role_app.command("create")
def role_create(ctx: typer.Context, name: str, description: str = "") -> None:
    """Create a role (then give it permissions)."""
    from timesheets.authserver import people

    _run(ctx, lambda _r, s: people.create_role(s, name, description))
    out.print(f"created role {name}")


@role_app.command("set-permissions")
def role_set_permissions(ctx: typer.Context, role: str, api: str, scopes: list[str]) -> None:
    """Make a role's permissions on an API exactly these scopes."""
    from timesheets.authserver import people

    _run(ctx, lambda _r, s: people.set_permissions(s, role, api, scopes))
    out.print(f"role {role} has {' '.join(scopes)} on {api}")


@role_app.command("delete")
def role_delete(ctx: typer.Context, role: str) -> None:
    """Delete a role; its members lose its permissions."""
    from timesheets.authserver import people

    _run(ctx, lambda _r, s: people.delete_role(s, role))
    out.print(f"deleted role {role}")


@user_app.command("remove-role")
def user_remove_role(ctx: typer.Context, user: str, role: str) -> None:
    """Take a role from a user."""
    from timesheets.authserver import people

    _run(ctx, lambda _r, s: people.unassign_role(s, user, role))
    out.print(f"{user} no longer has role {role}")


@user_app.command("delete")
def user_delete(ctx: typer.Context, user: str) -> None:
    """Delete a user with their roles and sessions."""
    from timesheets.authserver import people

    _run(ctx, lambda _r, s: people.delete_user(s, user))
    out.print(f"deleted user {user}")
