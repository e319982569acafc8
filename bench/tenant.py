"""Our services for the API-write and import benchmarks: tenant, servers, tokens.

`Tenant` configures the authorization server with `timesheets admin` in a temporary data
directory (one API, one machine client, one grant) and builds the command lines of
`timesheets authserver` and `timesheets api` in production mode. Used by
bench/api_write.py and bench/import.py; nothing here applies load.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    REPO,
    Managed,
    Processes,
    free_port,
    port_in_use,
    say,
    wait_http,
    wait_listeners,
)

API = "https://api.timesheets.test"


def timesheets_command() -> str:
    """The `timesheets` script of the running virtual environment."""
    for candidate in (
        Path(sys.executable).parent / "timesheets",
        REPO / ".venv" / "bin" / "timesheets",
    ):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("timesheets")
    if found is None:
        raise SystemExit("the `timesheets` command is not installed: run `make install`")
    return found


def pycache_dir() -> Path:
    """A byte-code cache outside the repository, kept between runs.

    With PYTHONDONTWRITEBYTECODE set (as on CI), every process would compile every
    module from source at start-up; an installed service has its byte code. Our processes
    get this folder as PYTHONPYCACHEPREFIX instead, so start-up costs what it costs in
    production and nothing is written under src/.
    """
    path = Path(tempfile.gettempdir()) / "timesheets-bench-pycache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def service_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of our processes: no inherited TIMESHEETS_* settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TIMESHEETS_") and key != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(pycache_dir())
    env["COLUMNS"] = "200"  # keep rich from wrapping the admin commands' output
    env.update(extra or {})
    return env


class AdminError(RuntimeError):
    """A `timesheets admin` command failed."""


@dataclass
class Tenant:
    """One authorization-server tenant in `data_dir`, and how to run our services."""

    data_dir: Path
    command: str = field(default_factory=timesheets_command)
    key_encryption_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    client_id: str = ""
    client_secret: str = ""
    database_url: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. TIMESHEETS_AUTH_* tuning

    @property
    def env(self) -> dict[str, str]:
        """Environment of the authorization server and the admin commands."""
        extra = {"TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY": self.key_encryption_key}
        if self.database_url:
            extra["TIMESHEETS_AUTH_DATABASE_URL"] = self.database_url
        return service_env(extra | self.extra_env)

    def admin(self, *args: str) -> str:
        """Run `timesheets admin` against this data dir; its standard output."""
        completed = subprocess.run(
            [self.command, "admin", "--data-dir", str(self.data_dir), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if completed.returncode != 0:
            raise AdminError(
                f"timesheets admin {' '.join(args)} failed ({completed.returncode}):\n"
                f"{completed.stdout}{completed.stderr}"
            )
        return completed.stdout

    def configure(self, scopes: Sequence[str], auth_method: str = "client_secret_post") -> None:
        """The API with `scopes` (kept when an earlier run made it in this database), a
        machine client authenticating with `auth_method` and granted all of them."""
        try:
            self.admin(
                "api",
                "create",
                "--name",
                "Timesheets API",
                "--identifier",
                API,
                *[arg for scope in scopes for arg in ("--scope", f"{scope}={scope}")],
            )
        except AdminError:
            self.admin("api", "show", API)
            say(f"API {API} exists already; reusing it")
        output = self.admin(
            "client",
            "create",
            "--name",
            "bench",
            "--type",
            "machine",
            "--auth-method",
            auth_method,
        )
        fields = dict(
            line.split(": ", 1) for line in output.splitlines() if line.startswith("client_")
        )
        self.client_id = fields["client_id"].strip()
        self.client_secret = fields["client_secret"].strip()
        # `--`: a generated client id may begin with "-", which would read as an option.
        self.admin("grant", "add", "--", self.client_id, API, *scopes)

    def authserver_argv(self, port: int, workers: int = 1) -> list[str]:
        """`timesheets authserver` on `port`, its issuer http://127.0.0.1:<port>."""
        return [
            self.command,
            "authserver",
            "--data-dir",
            str(self.data_dir),
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--issuer",
            f"http://{HOST}:{port}",
        ]

    def api_argv(
        self, port: int, issuer: str, data_dir: Path, *, workers: int, database_url: str
    ) -> list[str]:
        """`timesheets api` (production mode) on `port`, trusting `issuer`."""
        argv = [
            self.command,
            "api",
            "--data-dir",
            str(data_dir),
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--issuer",
            issuer,
            "--audience",
            API,
        ]
        if database_url:
            argv += ["--database-url", database_url]
        return argv

    def token(self, issuer: str) -> str:
        """An access token for the API: client_credentials, client_secret_post."""
        response = httpx.post(
            f"{issuer}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "audience": API,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
            timeout=30,
        )
        if response.status_code != 200:
            raise RuntimeError(f"token request: HTTP {response.status_code}: {response.text[:300]}")
        token = response.json().get("access_token")
        if not isinstance(token, str) or token.count(".") != 2:
            raise RuntimeError(f"token request: no JWT access token in {response.text[:300]}")
        return token


def start_server(
    processes: Processes,
    name: str,
    argv: list[str],
    env: dict[str, str],
    port: int,
    log_path: Path,
    *,
    ready_path: str,
    ready_status: int | None = 200,
    timeout: float = 180,
    listeners: int = 1,
) -> Managed:
    """Start a server on a free loopback port and wait until `ready_path` answers and
    `listeners` sockets (one per worker of ours) listen on it."""
    if port_in_use(port):
        raise RuntimeError(f"port {port} is in use; refusing to start {name}")
    say(f"starting {name} on {HOST}:{port}")
    server = processes.start(name, argv, env=env, log_path=log_path)
    wait_http(f"http://{HOST}:{port}{ready_path}", server, timeout=timeout, expect=ready_status)
    wait_listeners(port, listeners, server, timeout=timeout)
    return server


def start_authserver(
    processes: Processes, tenant: Tenant, log_path: Path, *, workers: int = 2
) -> str:
    """`timesheets authserver` for `tenant` on a free loopback port; its issuer URL."""
    port = loopback_port()
    start_server(
        processes,
        "authserver",
        tenant.authserver_argv(port, workers=workers),
        tenant.env,
        port,
        log_path,
        ready_path="/.well-known/openid-configuration",
        listeners=workers,
    )
    return f"http://{HOST}:{port}"


def loopback_port() -> int:
    """A free loopback port, never one of the well-known development ports."""
    while True:
        port = free_port()
        if port not in (3000, 8000, 9000):
            return port


def sqlite_path(data_dir: Path) -> Path:
    """The API's SQLite file in a data directory."""
    return data_dir / "api.db"


def database_kind(database_url: str) -> str:
    """'sqlite' or the URL's scheme, without credentials, for reports."""
    if not database_url:
        return "sqlite"
    return database_url.split("://", 1)[0]


def as_dict(value: Any) -> Any:
    """`value` with Paths turned into strings, for JSON."""
    if isinstance(value, dict):
        return {key: as_dict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_dict(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def query_api_db(
    data_dir: Path, database_url: str, sql: str, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """Rows of a read-only query (named `:params`) on the API's database.

    SQLite through the standard library's sqlite3; any other URL through SQLAlchemy.
    """
    if not database_url:
        import sqlite3

        connection = sqlite3.connect(f"file:{sqlite_path(data_dir)}?mode=ro", uri=True)
        try:
            return [tuple(row) for row in connection.execute(sql, params)]
        finally:
            connection.close()
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> list[tuple[Any, ...]]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(text(sql), params)
                return [tuple(row) for row in result]
        finally:
            await engine.dispose()

    return asyncio.run(run())
