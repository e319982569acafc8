"""The original scenario end to end: the real authorization server and API as subprocesses.

The tenant is configured with `timesheets admin` the way an operator would; the import
job gets a token with the seed's JSON request and posts the seed's entry. Every
subprocess runs in its own session and is stopped (SIGTERM, then SIGKILL of its process
group) when the test ends; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.api.test_pg_rows import head_revision
from tests.pg import free_port
from timesheets import db
from timesheets.api.app import MIGRATIONS
from timesheets.settings import sqlite_url

pytestmark = pytest.mark.timeout(300)

TIMESHEETS = str(Path(sys.executable).with_name("timesheets"))
KEK = "scenario-key-encryption-key-0123456789"
AUDIENCE = "https://api.timesheets.local"
# The seed text's body, as its import job sends it.
SEED_ENTRY = {
    "user_type": "Employee",
    "user_id": "007",
    "year": 2016,
    "week": 24,
    "project": "StoreZero",
    "hours": 40,
}
COMMAND_TIMEOUT = 120.0
START_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bytecode cache for the subprocesses, outside the source tree."""
    return tmp_path_factory.mktemp("scenario-pycache")


def command_env(bytecode_cache: Path, **extra: str) -> dict[str, str]:
    """The environment of a `timesheets` subprocess: no inherited TIMESHEETS_* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIMESHEETS_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    env.update(extra)
    return env


def admin(data_dir: Path, env: dict[str, str], *args: str) -> str:
    """`timesheets admin --data-dir DIR ARGS...`, which must exit 0; its output.

    Commands run one after another: each is one transaction on the tenant's database.
    """
    result = subprocess.run(
        [TIMESHEETS, "admin", "--data-dir", str(data_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"admin {args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def printed(label: str, output: str) -> str:
    """The value of a `label: value` line the admin CLI printed."""
    match = re.search(rf"^{re.escape(label)}: (\S+)\s*$", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return match.group(1)


@dataclass
class Server:
    """A `timesheets` server subprocess in its own process group, and its log."""

    process: subprocess.Popen[bytes]
    log: Path
    url: str

    def output(self) -> str:
        """What the server wrote so far."""
        return self.log.read_text(errors="replace")

    def wait_healthy(self) -> None:
        """Wait until /healthz answers 200; fail with the log if it exits or takes too long."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.output()
                if "address already in use" in log.lower():
                    pytest.skip(f"{self.url} was taken by another process while starting")
                pytest.fail(f"{self.url} exited with {self.process.returncode}:\n{log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        pytest.fail(f"{self.url} not healthy within {START_TIMEOUT} s:\n{self.output()}")

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT)


@dataclass
class Tenant:
    """The configured data directory and the two machine clients."""

    data_dir: Path
    env: dict[str, str]
    import_job: tuple[str, str]
    reader: tuple[str, str]


@dataclass
class Platform:
    """The running authorization server and API."""

    tenant: Tenant
    authserver: Server
    api: Server

    def token(self, client: tuple[str, str]) -> str:
        """A token obtained with the seed's request: a JSON body with the credentials."""
        client_id, client_secret = client
        response = httpx.post(
            f"{self.authserver.url}/oauth/token",
            json={
                "audience": AUDIENCE,
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "Bearer"
        token: str = body["access_token"]
        return token


@pytest.fixture
def tenant(tmp_path: Path, bytecode_cache: Path) -> Tenant:
    """The tenant of the scenario, configured with the admin CLI."""
    data_dir = tmp_path / "data"
    env = command_env(bytecode_cache, TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY=KEK)
    admin(
        data_dir,
        env,
        *("api", "create", "--name", "Timesheets API", "--identifier", AUDIENCE),
        *("--scope", "create:timesheets=Create", "--scope", "read:timesheets=Read"),
        *("--scope", "batch:upload=Upload"),
    )
    job = admin(
        data_dir, env, "client", "create", "--name", "Timesheets Import Job", "--type", "machine"
    )
    import_job = (printed("client_id", job), printed("client_secret", job))
    admin(data_dir, env, "grant", "add", import_job[0], AUDIENCE, "create:timesheets")
    other = admin(data_dir, env, "client", "create", "--name", "Report Reader", "--type", "machine")
    reader = (printed("client_id", other), printed("client_secret", other))
    admin(data_dir, env, "grant", "add", reader[0], AUDIENCE, "read:timesheets")
    return Tenant(data_dir, env, import_job, reader)


@pytest.fixture
def platform(tenant: Tenant, tmp_path: Path) -> Iterator[Platform]:
    """`timesheets authserver` and `timesheets api` on free loopback ports, always stopped."""
    started: list[Server] = []

    def start(name: str, args: list[str], port: int) -> Server:
        log = tmp_path / f"{name}.log"
        with open(log, "wb") as handle:
            process = subprocess.Popen(
                [TIMESHEETS, *args],
                env=tenant.env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(process, log, f"http://127.0.0.1:{port}")
        started.append(server)
        return server

    try:
        auth_port = free_port()
        issuer = f"http://127.0.0.1:{auth_port}"
        data_dir = str(tenant.data_dir)
        authserver = start(
            "authserver",
            ["authserver", "--data-dir", data_dir, "--port", str(auth_port), "--issuer", issuer],
            auth_port,
        )
        api_port = free_port()
        api = start(
            "api",
            [
                *("api", "--data-dir", data_dir, "--port", str(api_port)),
                *("--issuer", issuer, "--audience", AUDIENCE),
            ],
            api_port,
        )
        # The API fetches the issuer's keys on its first request: both start side by side.
        authserver.wait_healthy()
        api.wait_healthy()
        yield Platform(tenant, authserver, api)
    finally:
        for server in reversed(started):
            server.stop()


def test_the_import_job_posts_the_seed_entry_and_others_are_refused(platform: Platform) -> None:
    api = platform.api.url
    token = platform.token(platform.tenant.import_job)

    created = httpx.post(
        f"{api}/timesheets",
        json=SEED_ENTRY,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["message"] == "Timesheet created for Employee: 007"
    assert (body["user_id"], body["project"], body["hours"]) == ("007", "StoreZero", 40)
    assert (body["year"], body["week"], body["status"]) == (2016, 24, "submitted")
    assert created.headers["location"] == f"/timesheets/{body['id']}"
    assert body["created_by"]["client_id"] == platform.tenant.import_job[0]

    legacy = httpx.post(
        f"{api}/timesheet",
        json=SEED_ENTRY | {"week": 25},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert legacy.status_code == 201, legacy.text
    assert legacy.json()["message"] == "Timesheet created for Employee: 007"

    anonymous = httpx.post(f"{api}/timesheets", json=SEED_ENTRY, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"message": "Missing or invalid token"}
    assert anonymous.headers["www-authenticate"].startswith("Bearer")

    reader_token = platform.token(platform.tenant.reader)
    unscoped = httpx.post(
        f"{api}/timesheets",
        json=SEED_ENTRY,
        headers={"Authorization": f"Bearer {reader_token}"},
        timeout=10,
    )
    assert unscoped.status_code == 403, unscoped.text
    assert 'error="insufficient_scope"' in unscoped.headers["www-authenticate"]

    # The reader sees exactly the two entries: nothing was stored by the refused requests.
    listed = httpx.get(
        f"{api}/timesheets", headers={"Authorization": f"Bearer {reader_token}"}, timeout=10
    )
    assert listed.status_code == 200, listed.text
    assert listed.headers["x-total-count"] == "2"
    assert [entry["week"] for entry in listed.json()] == [24, 25]


def api_that_exits(data_dir: Path, env: dict[str, str], *flags: str) -> tuple[int, str]:
    """`timesheets api --data-dir DIR --port PORT FLAGS...`, expected to exit by itself:
    its exit status and standard error."""
    process = subprocess.Popen(
        [TIMESHEETS, "api", "--data-dir", str(data_dir), "--port", str(free_port()), *flags],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=STOP_TIMEOUT)
    return process.returncode, stderr.decode(errors="replace")


@pytest.mark.parametrize(
    ("flags", "missing", "present"),
    [
        ([], ["TIMESHEETS_API_ISSUER", "TIMESHEETS_API_AUDIENCE"], []),
        (
            ["--issuer", "http://127.0.0.1:9"],
            ["TIMESHEETS_API_AUDIENCE"],
            ["TIMESHEETS_API_ISSUER"],
        ),
    ],
)
def test_the_api_refuses_to_start_without_issuer_and_audience(
    tmp_path: Path, bytecode_cache: Path, flags: list[str], missing: list[str], present: list[str]
) -> None:
    returncode, stderr = api_that_exits(tmp_path, command_env(bytecode_cache), *flags)
    assert returncode != 0
    for name in missing:
        assert name in stderr, stderr
    for name in present:
        assert name not in stderr, stderr
    assert not (tmp_path / "api.db").exists()


#: Flags that let `timesheets api` start without an issuer to ask (/healthz needs none).
API_FLAGS = ("--issuer", "http://127.0.0.1:9", "--audience", AUDIENCE)


@contextlib.contextmanager
def serving_api(data_dir: Path, env: dict[str, str], *flags: str) -> Iterator[Server]:
    """`timesheets api` on a free port, healthy, and stopped at the end."""
    port = free_port()
    log = data_dir.parent / f"api-{port}.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [TIMESHEETS, "api", "--data-dir", str(data_dir), "--port", str(port), *flags],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, log, f"http://127.0.0.1:{port}")
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def revision_of(path: Path) -> str | None:
    """The Alembic revision a SQLite file is at; None before its first migration."""
    assert path.exists(), path
    with contextlib.closing(sqlite3.connect(path)) as connection:
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            return None
    return str(row[0]) if row else None


def migrate_to(path: Path, revision: str) -> None:
    """Apply the API's migrations to a SQLite file up to `revision`, as an operator would."""

    async def run() -> None:
        engine = db.create_engine(sqlite_url(path))
        try:
            await db.upgrade(engine, MIGRATIONS, revision)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_the_api_takes_its_database_from_the_environment_and_migrates_it_on_start(
    tmp_path: Path, bytecode_cache: Path
) -> None:
    data_dir, database = tmp_path / "data", tmp_path / "elsewhere" / "api.db"
    env = command_env(bytecode_cache, TIMESHEETS_API_DATABASE_URL=sqlite_url(database))
    with serving_api(data_dir, env, *API_FLAGS):
        assert revision_of(database) == head_revision()
    assert not (data_dir / "api.db").exists()


def test_the_database_url_flag_wins_over_the_environment(
    tmp_path: Path, bytecode_cache: Path
) -> None:
    data_dir, from_env, from_flag = tmp_path / "data", tmp_path / "env.db", tmp_path / "flag.db"
    env = command_env(bytecode_cache, TIMESHEETS_API_DATABASE_URL=sqlite_url(from_env))
    with serving_api(data_dir, env, *API_FLAGS, "--database-url", sqlite_url(from_flag)):
        assert revision_of(from_flag) == head_revision()
    assert not from_env.exists()


@pytest.mark.parametrize(
    ("migrated_to", "flags", "environment"),
    [
        (None, ["--no-migrate"], {}),
        (None, [], {"TIMESHEETS_API_MIGRATE": "false"}),
        ("0004", ["--no-migrate"], {}),
    ],
    ids=["fresh-flag", "fresh-environment", "behind-flag"],
)
def test_with_migrations_off_the_api_refuses_a_database_that_lacks_some(
    tmp_path: Path,
    bytecode_cache: Path,
    migrated_to: str | None,
    flags: list[str],
    environment: dict[str, str],
) -> None:
    database = tmp_path / "data" / "api.db"
    database.parent.mkdir()
    if migrated_to:
        migrate_to(database, migrated_to)
    env = command_env(bytecode_cache, **environment)
    returncode, stderr = api_that_exits(database.parent, env, *API_FLAGS, *flags)
    assert returncode == 1, stderr
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    errors = [entry for entry in logged if entry["level"] == "error"]
    assert len(errors) == 1, stderr
    assert "lacks migrations" in errors[0]["message"]
    assert "--no-migrate (TIMESHEETS_API_MIGRATE=false)" in errors[0]["message"]
    pending = errors[0]["pending"]
    assert (pending[0], pending[-1]) == (head_revision(), "0005" if migrated_to else "0001")
    assert "Traceback" not in stderr
    assert revision_of(database) == migrated_to


def test_with_migrations_off_the_api_serves_a_database_migrated_beforehand(
    tmp_path: Path, bytecode_cache: Path
) -> None:
    database = tmp_path / "data" / "api.db"
    database.parent.mkdir()
    migrate_to(database, "head")
    with serving_api(database.parent, command_env(bytecode_cache), *API_FLAGS, "--no-migrate"):
        assert revision_of(database) == head_revision()
