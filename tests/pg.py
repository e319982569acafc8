"""A throw-away PostgreSQL server for the test suite, started from the machine's binaries.

initdb and pg_ctl refuse to run as root, so as root they run as the `postgres` user
(or `nobody`) through runuser. `TIMESHEETS_TEST_PG_URL` (a server-level URL such as
postgresql://user@host:port) uses an existing server instead.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl, newest version first."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return ["runuser", "-u", user, "--"]
    raise RuntimeError("running as root with neither a postgres nor a nobody user")


@dataclass
class PostgresServer:
    """A running server and the databases made on it."""

    host: str
    port: int
    user: str
    bindir: Path | None
    workdir: Path | None = None
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def url(self, database: str) -> str:
        """An asyncpg URL for a database on this server."""
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with psql and return its output."""
        binary = (
            str(self.bindir / "psql") if self.bindir and (self.bindir / "psql").exists() else "psql"
        )
        result = subprocess.run(
            [
                binary,
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.stdout

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"t_{os.getpid()}_{next(self._counter)}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and delete its files (only if this suite started it)."""
        if self.workdir is None or self.bindir is None:
            return
        subprocess.run(
            [
                *_run_as(),
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.workdir / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(self.workdir, ignore_errors=True)

    def restart_stop(self) -> None:
        """Stop the server but keep its files (for outage tests)."""
        assert self.bindir
        assert self.workdir
        subprocess.run(
            [
                *_run_as(),
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.workdir / "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        """Start the server on its data directory."""
        assert self.bindir
        assert self.workdir
        options = (
            f"-p {self.port} -k {self.workdir} -h 127.0.0.1 -c fsync=off -c max_connections=200"
        )
        subprocess.run(
            [
                *_run_as(),
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.workdir / "data"),
                "-o",
                options,
                "-l",
                str(self.workdir / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )


def start_postgres() -> PostgresServer:
    """Start a server in a temporary directory on a free port."""
    external = os.environ.get("TIMESHEETS_TEST_PG_URL")
    if external:
        rest = external.split("://", 1)[1]
        user, _, hostport = rest.rpartition("@")
        host, _, port = hostport.partition(":")
        return PostgresServer(
            host=host, port=int(port or 5432), user=user or "postgres", bindir=find_bindir()
        )
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(
            "PostgreSQL server binaries not found: install postgresql (.ci/run does)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="timesheets-pg-"))
    prefix = _run_as()
    if prefix:
        owner = pwd.getpwnam(prefix[2])
        os.chown(workdir, owner.pw_uid, owner.pw_gid)
    os.chmod(workdir, 0o700)
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(workdir / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = PostgresServer(
        host="127.0.0.1", port=free_port(), user="postgres", bindir=bindir, workdir=workdir
    )
    for attempt in range(3):
        try:
            server.start()
            break
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
            server.port = free_port()
            time.sleep(0.5)
    return server


async def until_someone_waits_for_a_lock(engine: AsyncEngine, locktype: str = "%") -> None:
    """Return once a session of `engine`'s PostgreSQL database waits for a lock whose type
    is like `locktype` (any by default); fail after 10 s."""
    query = text("SELECT count(*) FROM pg_locks WHERE locktype LIKE :type AND NOT granted")
    async with engine.connect() as connection:
        for _ in range(200):
            waiting = await connection.scalar(query, {"type": locktype})
            await connection.rollback()  # a fresh snapshot for the next look
            if waiting:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"nobody waits for a lock of type {locktype!r}")
