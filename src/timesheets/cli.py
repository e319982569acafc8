"""The `timesheets` command: serve the services, run the whole system, administer the tenant."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from timesheets.authserver.cli_admin import admin_app
from timesheets.datadir import ensure_key_file, key_file
from timesheets.importer.command import import_command
from timesheets.logging import configure
from timesheets.settings import ApiSettings, AuthServerSettings, default_data_dir

if TYPE_CHECKING:
    from timesheets.db import NotMigrated

app = typer.Typer(help="ABC Inc.'s Timesheets platform.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.command("import")(import_command)
log = logging.getLogger("timesheets")

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="TIMESHEETS_DATA_DIR",
        help="Directory for SQLite files, keys and bootstrap.json.",
    ),
]


def auth_settings(data_dir: Path | None = None, **overrides: Any) -> AuthServerSettings:
    """Authorization-server settings from flags, then environment, then defaults.

    Without `TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY`, the data directory's generated key
    (written by `timesheets up`) is used when it exists.
    """
    values = {k: v for k, v in overrides.items() if v is not None}
    directory = data_dir or default_data_dir()
    values["data_dir"] = directory
    if "TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY" not in os.environ and key_file(directory).exists():
        values.setdefault("key_encryption_key", key_file(directory).read_text().strip())
    try:
        return AuthServerSettings(**values)
    except ValidationError as error:
        messages = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
        raise typer.BadParameter(messages) from None


@app.command()
def authserver(
    data_dir: DataDir = default_data_dir(),
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    cpu_affinity: Annotated[
        str | None,
        typer.Option(help="auto: with 2+ workers, one per CPU; off: the kernel places them."),
    ] = None,
    issuer: Annotated[str | None, typer.Option(help="Issuer URL.")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy async URL.")] = None,
    dev: Annotated[bool | None, typer.Option("--dev", help="Development mode.")] = None,
    migrate: Annotated[
        bool | None, typer.Option("--migrate/--no-migrate", help="Apply migrations on start.")
    ] = None,
) -> None:
    """Serve the authorization server alone."""
    from timesheets.authserver.app import (
        WrongKeyEncryptionKey,
        create_app,
        create_runtime,
        prepare,
    )
    from timesheets.db import NotMigrated
    from timesheets.serve import serve

    configure()
    settings = auth_settings(
        data_dir,
        host=host,
        port=port,
        workers=workers,
        cpu_affinity=cpu_affinity,
        issuer=issuer,
        database_url=database_url,
        dev=dev,
        migrate=migrate,
    )

    async def prepare_once() -> None:
        runtime = create_runtime(settings)
        try:
            await prepare(runtime)
        finally:
            await runtime.engine.dispose()

    try:
        asyncio.run(prepare_once())
    except NotMigrated as error:
        raise _not_started(error, "TIMESHEETS_AUTH_MIGRATE") from None
    except WrongKeyEncryptionKey as error:
        raise _refused(error) from None
    factory = functools.partial(create_app, settings, prepare_on_start=False)
    serve(factory, settings.host, settings.port, settings.workers, pin=pinned(settings))


def _not_started(error: NotMigrated, variable: str) -> typer.Exit:
    """Log why a service with migrations off refuses its database; the exit to raise."""
    log.error(
        f"not started: the database lacks migrations and --no-migrate ({variable}=false)"
        " is set; start one instance with migrations on, which applies them before it serves",
        extra={"pending": error.pending},
    )
    return typer.Exit(1)


def _refused(error: Exception) -> typer.Exit:
    """Log why a service refuses to start with its settings; the exit to raise."""
    log.error(f"not started: {error}")
    return typer.Exit(1)


def pinned(settings: ApiSettings | AuthServerSettings) -> bool:
    """Whether the workers are bound to CPUs (`serve.worker_cpus`)."""
    return settings.cpu_affinity == "auto"


def api_settings(data_dir: Path | None = None, **overrides: Any) -> ApiSettings:
    """Timesheets API settings from flags, then environment, then defaults."""
    values = {k: v for k, v in overrides.items() if v is not None}
    values["data_dir"] = data_dir or default_data_dir()
    try:
        return ApiSettings(**values)
    except ValidationError as error:
        messages = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
        raise typer.BadParameter(messages) from None


@app.command()
def api(
    data_dir: DataDir = default_data_dir(),
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    cpu_affinity: Annotated[
        str | None,
        typer.Option(help="auto: with 2+ workers, one per CPU; off: the kernel places them."),
    ] = None,
    issuer: Annotated[str | None, typer.Option(help="Issuer whose tokens are accepted.")] = None,
    audience: Annotated[str | None, typer.Option(help="This API's identifier.")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy async URL.")] = None,
    migrate: Annotated[
        bool | None, typer.Option("--migrate/--no-migrate", help="Apply migrations on start.")
    ] = None,
) -> None:
    """Serve the Timesheets API alone."""
    from timesheets.api.app import create_app, require_migrated
    from timesheets.api.app import migrate as apply_migrations
    from timesheets.db import NotMigrated
    from timesheets.serve import serve

    configure()
    settings = api_settings(
        data_dir,
        host=host,
        port=port,
        workers=workers,
        cpu_affinity=cpu_affinity,
        issuer=issuer,
        audience=audience,
        database_url=database_url,
        migrate=migrate,
    )
    if settings.migrate:
        asyncio.run(apply_migrations(settings))
    else:
        try:
            asyncio.run(require_migrated(settings))
        except NotMigrated as error:
            raise _not_started(error, "TIMESHEETS_API_MIGRATE") from None
    factory = functools.partial(create_app, settings, migrate_on_start=False)
    serve(factory, settings.host, settings.port, settings.workers, pin=pinned(settings))


@app.command()
def up(data_dir: DataDir = default_data_dir()) -> None:
    """Run the whole system on SQLite, bootstrapping the demo tenant on first start."""
    from timesheets.authserver.app import WrongKeyEncryptionKey
    from timesheets.db import NotMigrated
    from timesheets.up import run_up

    configure()
    ensure_key_file(data_dir)
    try:
        run_up(auth_settings(data_dir))
    except NotMigrated as error:
        raise _not_started(error, "TIMESHEETS_AUTH_MIGRATE") from None
    except WrongKeyEncryptionKey as error:
        raise _refused(error) from None


def main() -> None:
    """Entry point of the `timesheets` command."""
    app()
