"""The authorization server as an operator runs it: the `timesheets` command in subprocesses.

The tenant is configured with `timesheets admin`, the server started with
`timesheets authserver` (one or several workers) or `timesheets up`, and tokens are
obtained with Authlib and verified with PyJWT against the discovered JWKS, the way a
third-party client and resource server would.

Every subprocess runs in its own session and is stopped (SIGTERM, then SIGKILL of its
whole process group) when its test ends; every wait is bounded. Subprocesses share a
bytecode cache directory so that each one does not recompile the whole dependency tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from authlib.integrations.requests_client import OAuth2Session

from tests.e2e.test_scenario import SEED_ENTRY
from tests.pg import PostgresServer, free_port
from timesheets import db
from timesheets.authserver.app import MIGRATIONS as AUTH_MIGRATIONS
from timesheets.settings import sqlite_url

pytestmark = pytest.mark.timeout(240)

TIMESHEETS = str(Path(sys.executable).with_name("timesheets"))
KEK = "e2e-key-encryption-key-0123456789"
API = "https://api.example.test"
UP_PORT = 9000
UP_API_PORT = 8000
UP_WEB_PORT = 3000
UP_AUDIENCE = "https://api.timesheets.local"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0


@pytest.fixture(scope="session")
def bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bytecode cache shared by the subprocesses of this run (outside the source tree)."""
    return tmp_path_factory.mktemp("pycache")


def command_env(bytecode_cache: Path, **extra: str) -> dict[str, str]:
    """The environment of a `timesheets` subprocess: no inherited TIMESHEETS_* settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TIMESHEETS_") and key != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    env.update(extra)
    return env


def run_admin(data_dir: Path, env: dict[str, str], *args: str) -> str:
    """Run `timesheets admin --data-dir DIR ARGS...`; fail with its output unless it exits 0."""
    result = subprocess.run(
        [TIMESHEETS, "admin", "--data-dir", str(data_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"admin {args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def printed(label: str, output: str) -> str:
    """The value of a `label: value` line the admin CLI printed."""
    match = re.search(rf"^{re.escape(label)}: (\S+)\s*$", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return match.group(1)


def listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on a TCP port on any local address (IPv4 and IPv6)."""
    return port_inodes(port, "0A")


def port_inodes(port: int, state: str) -> set[str]:
    """Inodes of the TCP sockets on a local port in a state as /proc/net/tcp writes it."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                local, found, inode = fields[1], fields[3], fields[9]
                if found == state and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(inode)
    return inodes


def socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets a process holds open."""
    inodes = set()
    with contextlib.suppress(FileNotFoundError, PermissionError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    return inodes


def wait_for_workers(server: ServerProcess, count: int, *, times: int = 1) -> list[int]:
    """The server's worker pids, once its log has said `times` times that all `count`
    workers are ready (a second time after one was replaced, say)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        said = [
            json.loads(line)
            for line in server.output().splitlines()
            if '"workers ready"' in line and line.startswith("{")
        ]
        workers = [
            pid for pid in children(server.pid) if "resource_tracker" not in command_line(pid)
        ]
        if sum(entry.get("ready") == count for entry in said) >= times and len(workers) == count:
            return workers
        if time.monotonic() > deadline:
            pytest.fail(f"{count} workers of {server.pid} not ready:\n{server.output()}")
        time.sleep(0.1)


def established_inodes(port: int) -> set[str]:
    """Socket inodes of connections established to a local TCP port."""
    return port_inodes(port, "01")


def listens_on(pid: int, port: int) -> bool:
    """Whether this process itself holds a socket listening on `port`."""
    return bool(socket_inodes(pid) & listening_inodes(port))


def group_listens_on(pgid: int, port: int) -> bool:
    """Whether a process of this process group listens on `port` (not someone else's)."""
    return any(listens_on(pid, port) for pid in group_members(pgid))


def children(pid: int) -> list[int]:
    """The direct child processes of `pid`, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as handle:
            # The command name is in parentheses and may hold spaces: split after it.
            fields = handle.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def group_members(pgid: int) -> list[int]:
    """The live processes of a process group, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and is_running(int(entry)):
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as handle:
                if int(handle.read().rsplit(")", 1)[1].split()[2]) == pgid:
                    found.append(int(entry))
    return found


def command_line(pid: int) -> str:
    """A process's command line, or "" once it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def is_running(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def port_is_free(port: int) -> bool:
    """Whether nothing listens on `port` and 127.0.0.1:port can be bound and listened on."""
    if listening_inodes(port):
        return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError:
            return False
    return True


@dataclass
class ServerProcess:
    """A `timesheets` server subprocess, its own process group and its log file."""

    process: subprocess.Popen[bytes]
    log: Path
    port: int

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The parent process id."""
        return self.process.pid

    def output(self) -> str:
        """Everything the server wrote so far."""
        return self.log.read_text(errors="replace")

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until this server listens and /healthz answers 200.

        Fails with the log if the process exits first, or skips if that is because another
        program took the port meanwhile.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.output()
                if "address already in use" in log.lower():
                    pytest.skip(f"port {self.port} was taken by another program while starting")
                pytest.fail(f"server exited with {self.process.returncode}:\n{log}")
            # Only this process group's listener counts, not another program on the port.
            if group_listens_on(self.pid, self.port):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                        return
            time.sleep(0.2)
        pytest.fail(f"server not healthy within {timeout} s:\n{self.output()}")

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT)
        # Workers may outlive a parent that died; the group reaches them too.
        if group_members(self.process.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `timesheets ARGS...` in the background; everything started is stopped at the end."""
    started: list[ServerProcess] = []

    def start(args: list[str], env: dict[str, str], port: int) -> ServerProcess:
        log = tmp_path / f"server-{len(started)}.log"
        with open(log, "wb") as handle:
            process = subprocess.Popen(
                [TIMESHEETS, *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = ServerProcess(process, log, port)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@dataclass
class CliTenant:
    """A data directory (and database) configured with the admin CLI, and its client."""

    data_dir: Path
    database_url: str | None
    client_id: str
    client_secret: str

    def server_args(self, port: int, *extra: str) -> list[str]:
        """`timesheets authserver` arguments for this tenant on `port`."""
        args = ["authserver", "--data-dir", str(self.data_dir), "--port", str(port)]
        args += ["--issuer", f"http://127.0.0.1:{port}", *extra]
        if self.database_url:
            args += ["--database-url", self.database_url]
        return args


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cli_tenant(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    bytecode_cache: Path,
) -> CliTenant:
    """An API, a client_secret_basic machine client and its grant, made by `timesheets admin`."""
    data_dir = tmp_path_factory.mktemp(f"data-{request.param}")
    database_url = None
    extra = {"TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY": KEK}
    if request.param == "postgresql":
        pg: PostgresServer = request.getfixturevalue("pg_server")
        database_url = pg.new_database()
        # The admin CLI reads the database from the environment, like the server can.
        extra["TIMESHEETS_AUTH_DATABASE_URL"] = database_url
    env = command_env(bytecode_cache, **extra)
    run_admin(
        data_dir,
        env,
        *("api", "create", "--name", "X", "--identifier", API),
        *("--scope", "read:timesheets=Read"),
    )
    created = run_admin(
        data_dir,
        env,
        *("client", "create", "--name", "m2m", "--type", "machine"),
        *("--auth-method", "client_secret_basic"),
    )
    client_id = printed("client_id", created)
    client_secret = printed("client_secret", created)
    run_admin(data_dir, env, "grant", "add", client_id, API, "read:timesheets")
    return CliTenant(data_dir, database_url, client_id, client_secret)


def discover(issuer: str) -> dict[str, Any]:
    """The RFC 8414 metadata, checked to describe this issuer."""
    response = httpx.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10)
    assert response.status_code == 200, response.text
    metadata: dict[str, Any] = response.json()
    assert metadata["issuer"] == issuer
    return metadata


def verify_access_token(token: str, metadata: dict[str, Any], audience: str) -> dict[str, Any]:
    """Verify a token as a resource server would: the JWKS found through discovery."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    jwks = jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=False, cache_jwk_set=False, timeout=10)
    key = jwks.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=metadata["issuer"],
        options={"require": ["exp", "iat", "iss", "aud", "sub", "client_id", "jti"]},
    )
    assert claims["exp"] > time.time()
    return claims


def authlib_token(
    metadata: dict[str, Any], client_id: str, client_secret: str, resource: str
) -> dict[str, Any]:
    """A token from Authlib's OAuth 2.0 client with client_secret_basic."""
    with OAuth2Session(
        client_id, client_secret, token_endpoint_auth_method="client_secret_basic"
    ) as client:
        token: dict[str, Any] = client.fetch_token(
            metadata["token_endpoint"],
            grant_type="client_credentials",
            resource=resource,
            timeout=10,
        )
    return token


def test_authlib_client_gets_a_token_that_verifies_against_the_discovered_jwks(
    cli_tenant: CliTenant, start_server: Callable[..., ServerProcess], bytecode_cache: Path
) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = command_env(bytecode_cache, TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY=KEK)
    server = start_server(cli_tenant.server_args(port), env, port)
    server.wait_healthy()

    metadata = discover(issuer)
    assert metadata["token_endpoint"] == f"{issuer}/oauth/token"
    assert "client_secret_basic" in metadata["token_endpoint_auth_methods_supported"]
    token = authlib_token(metadata, cli_tenant.client_id, cli_tenant.client_secret, API)

    assert token["token_type"] == "Bearer"
    assert token["scope"] == "read:timesheets"
    claims = verify_access_token(token["access_token"], metadata, API)
    assert claims["aud"] == API
    assert claims["client_id"] == cli_tenant.client_id
    assert claims["scope"] == "read:timesheets"

    # A wrong secret is refused the same way through the real server.
    refused = httpx.post(
        metadata["token_endpoint"],
        data={"grant_type": "client_credentials", "resource": API},
        auth=(cli_tenant.client_id, cli_tenant.client_secret + "x"),
        timeout=10,
    )
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


@pytest.mark.parametrize("cli_tenant", ["sqlite"], indirect=True)
def test_two_workers_serve_tokens_and_stop_together_on_sigterm(
    cli_tenant: CliTenant, start_server: Callable[..., ServerProcess], bytecode_cache: Path
) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = command_env(bytecode_cache, TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY=KEK)
    server = start_server(cli_tenant.server_args(port, "--workers", "2"), env, port)
    server.wait_healthy()

    # Both workers come up; the parent alone listens and hands connections to them.
    workers = wait_for_workers(server, 2)
    assert listens_on(server.pid, port)
    assert not any(listens_on(pid, port) for pid in workers)

    metadata = discover(issuer)
    for _ in range(6):
        token = authlib_token(metadata, cli_tenant.client_id, cli_tenant.client_secret, API)
        verify_access_token(token["access_token"], metadata, API)

    # Keep-alive connections opened together are spread evenly, each served by its worker.
    clients = [httpx.Client(base_url=issuer, timeout=10) for _ in range(6)]
    try:
        for client in clients:
            assert client.get("/healthz").status_code == 200
        held = [len(socket_inodes(pid) & established_inodes(port)) for pid in workers]
        assert sorted(held) == [3, 3], f"connections per worker: {held}"

        # A worker that dies is replaced, and new connections go to the new one first.
        os.kill(workers[0], signal.SIGKILL)
        survivor = workers[1]
        workers = wait_for_workers(server, 2, times=2)
        assert survivor in workers
        fresh = next(pid for pid in workers if pid != survivor)
        more = [httpx.Client(base_url=issuer, timeout=10) for _ in range(4)]
        clients += more
        for client in more:
            assert client.get("/healthz").status_code == 200
        assert len(socket_inodes(fresh) & established_inodes(port)) >= 3
    finally:
        for client in clients:
            client.close()

    os.kill(server.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the parent did not stop within {STOP_TIMEOUT} s of SIGTERM")
    assert server.process.returncode == 0, server.output()
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(is_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if is_running(pid)], "workers outlived their parent"
    assert not listening_inodes(port), f"port {port} is still served after SIGTERM"


def token_with_seed_request(issuer: str, audience: str, client_id: str, secret: str) -> str:
    """The original scenario's request: a JSON body with the audience and the credentials."""
    response = httpx.post(
        f"{issuer}/oauth/token",
        json={
            "audience": audience,
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def check_up_serves_the_api_for_payroll_and_the_web_app(
    up: ServerProcess, document: dict[str, Any], import_token: str
) -> None:
    """The API `timesheets up` started accepts the issuer's tokens by their scopes (the
    import job creates, payroll reads), and lets browsers call it from the web app's
    registered origin alone."""
    api_url = f"http://127.0.0.1:{UP_API_PORT}"
    assert document["api_url"] == api_url
    assert document["web_url"] == f"http://127.0.0.1:{UP_WEB_PORT}"
    ServerProcess(up.process, up.log, UP_API_PORT).wait_healthy()
    reports = document["reports_client"]
    assert set(reports) == {"client_id", "client_secret"}
    token = token_with_seed_request(
        up.url, UP_AUDIENCE, reports["client_id"], reports["client_secret"]
    )
    assert verify_access_token(token, discover(up.url), UP_AUDIENCE)["scope"] == "read:timesheets"
    imported = httpx.post(
        f"{api_url}/timesheets",
        headers={"Authorization": f"Bearer {import_token}"},
        json=SEED_ENTRY,
        timeout=10,
    )
    assert imported.status_code == 201, imported.text
    auth = {"Authorization": f"Bearer {token}"}
    listed = httpx.get(f"{api_url}/timesheets", headers=auth, timeout=10)
    assert listed.status_code == 200, listed.text
    assert [entry["id"] for entry in listed.json()] == [imported.json()["id"]]
    refused = httpx.post(f"{api_url}/timesheets", headers=auth, json=SEED_ENTRY, timeout=10)
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]

    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            f"{api_url}/timesheets",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
            timeout=10,
        )

    web = preflight(document["web_url"])
    assert web.headers.get_list("access-control-allow-origin") == [document["web_url"]]
    for other in (f"http://localhost:{UP_WEB_PORT}", "null"):
        assert "access-control-allow-origin" not in preflight(other).headers, other
    assert httpx.get(document["web_url"], timeout=10).status_code == 200


def test_up_bootstraps_serves_on_9000_and_reuses_its_tenant(
    tmp_path: Path, start_server: Callable[..., ServerProcess], bytecode_cache: Path
) -> None:
    for port in (UP_PORT, UP_API_PORT, UP_WEB_PORT):
        if not port_is_free(port):
            pytest.skip(f"port {port} is in use on this machine; `timesheets up` needs it")
    data_dir = tmp_path / "data"
    issuer = f"http://127.0.0.1:{UP_PORT}"
    env = command_env(bytecode_cache)
    bootstrap = data_dir / "bootstrap.json"

    first = start_server(["up", "--data-dir", str(data_dir)], env, UP_PORT)
    first.wait_healthy()

    assert stat.S_IMODE(bootstrap.stat().st_mode) == 0o600
    document = json.loads(bootstrap.read_text())
    assert document["issuer"] == issuer
    assert document["audience"] == UP_AUDIENCE
    job = document["import_job"]
    assert set(job) >= {"client_id", "client_secret"}
    assert stat.S_IMODE((data_dir / "key-encryption.key").stat().st_mode) == 0o600

    metadata = discover(issuer)
    first_token = token_with_seed_request(
        issuer, UP_AUDIENCE, job["client_id"], job["client_secret"]
    )
    claims = verify_access_token(first_token, metadata, UP_AUDIENCE)
    assert claims["client_id"] == job["client_id"]
    assert sorted(claims["scope"].split()) == ["batch:upload", "create:timesheets"]
    first_kids = {key["kid"] for key in httpx.get(metadata["jwks_uri"], timeout=10).json()["keys"]}

    check_up_serves_the_api_for_payroll_and_the_web_app(first, document, first_token)

    management = document["management"]
    assert management["audience"] == f"{issuer}/api/v2/"
    manage_token = token_with_seed_request(
        issuer, management["audience"], management["client_id"], management["client_secret"]
    )
    listed = httpx.get(
        f"{issuer}/api/v2/clients",
        headers={"Authorization": f"Bearer {manage_token}"},
        timeout=10,
    )
    assert listed.status_code == 200, listed.text
    assert job["client_id"] in [client["client_id"] for client in listed.json()]

    first.stop()
    assert first.process.returncode is not None
    deadline = time.monotonic() + STOP_TIMEOUT
    while not port_is_free(UP_PORT) and time.monotonic() < deadline:
        time.sleep(0.1)

    second = start_server(["up", "--data-dir", str(data_dir)], env, UP_PORT)
    second.wait_healthy()
    again = json.loads(bootstrap.read_text())
    assert again["import_job"]["client_id"] == job["client_id"]
    assert stat.S_IMODE(bootstrap.stat().st_mode) == 0o600
    token = token_with_seed_request(
        issuer, UP_AUDIENCE, again["import_job"]["client_id"], again["import_job"]["client_secret"]
    )
    metadata = discover(issuer)
    assert verify_access_token(token, metadata, UP_AUDIENCE)["client_id"] == job["client_id"]
    # The signing keys were kept, not remade: tokens from before the restart still verify.
    assert jwt.get_unverified_header(token)["kid"] in first_kids
    assert verify_access_token(first_token, metadata, UP_AUDIENCE)["jti"] == claims["jti"]


@pytest.mark.parametrize(
    ("migrated_to", "flags", "environment"),
    [
        (None, ["--no-migrate"], {}),
        (None, [], {"TIMESHEETS_AUTH_MIGRATE": "false"}),
        ("0002", ["--no-migrate"], {}),
    ],
    ids=["fresh-flag", "fresh-environment", "behind-flag"],
)
def test_with_migrations_off_the_authserver_refuses_a_database_that_lacks_some(
    tmp_path: Path,
    bytecode_cache: Path,
    migrated_to: str | None,
    flags: list[str],
    environment: dict[str, str],
) -> None:
    """One logged error naming the pending revisions and exit status 1; no traceback,
    and the database left as it was."""
    database = tmp_path / "authserver.db"
    if migrated_to:
        asyncio.run(_migrate_authserver(database, migrated_to))
    before = _schema(database)
    port = free_port()
    args = ["authserver", "--data-dir", str(tmp_path), "--port", str(port)]
    args += ["--issuer", f"http://127.0.0.1:{port}", *flags]
    env = command_env(bytecode_cache, TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY=KEK, **environment)
    error, stderr = _refused_unmigrated(env, *args)
    pending = error["pending"]
    assert pending[-1] == ("0003" if migrated_to else "0001")
    assert "Traceback" not in stderr
    assert _schema(database) == before


def _refused_unmigrated(env: dict[str, str], *args: str) -> tuple[dict[str, Any], str]:
    """Run `timesheets ARGS...`, which must exit 1 logging exactly one error: that it
    refuses a database lacking migrations. The error and the standard error output."""
    finished = subprocess.run(
        [TIMESHEETS, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )
    stderr = finished.stderr.decode(errors="replace")
    assert finished.returncode == 1, stderr
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    errors = [entry for entry in logged if entry["level"] == "error"]
    assert len(errors) == 1, stderr
    assert "lacks migrations" in errors[0]["message"]
    assert "--no-migrate (TIMESHEETS_AUTH_MIGRATE=false)" in errors[0]["message"]
    return errors[0], stderr


async def _migrate_authserver(database: Path, revision: str) -> None:
    engine = db.create_engine(sqlite_url(database))
    try:
        await db.upgrade(engine, AUTH_MIGRATIONS, revision)
    finally:
        await engine.dispose()


def _schema(database: Path) -> list[Any]:
    """The SQLite file's schema and Alembic revision; empty when there is no file."""
    if not database.exists():
        return []
    with contextlib.closing(sqlite3.connect(database)) as connection:
        schema = connection.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        if ("table", "alembic_version") in [(kind, name) for kind, name, _ in schema]:
            schema += connection.execute("SELECT version_num FROM alembic_version").fetchall()
    return sorted(schema, key=repr)


def test_with_migrations_off_the_admin_cli_refuses_a_fresh_database(
    tmp_path: Path, bytecode_cache: Path
) -> None:
    """The tenant's commands say the database lacks migrations and exit 1, touching
    nothing, rather than failing with a traceback."""
    env = command_env(
        bytecode_cache, TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY=KEK, TIMESHEETS_AUTH_MIGRATE="false"
    )
    result = subprocess.run(
        [TIMESHEETS, "admin", "--data-dir", str(tmp_path), "export"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the database lacks migrations (pending migrations: " in result.stderr
    assert "TIMESHEETS_AUTH_MIGRATE=false" in result.stderr
    assert "Traceback" not in result.stderr
    assert _schema(tmp_path / "authserver.db") == []


def test_with_migrations_off_up_refuses_a_fresh_database_before_serving(
    tmp_path: Path, bytecode_cache: Path
) -> None:
    """`timesheets up` logs the pending revisions and exits 1 before binding a port."""
    env = command_env(bytecode_cache, TIMESHEETS_AUTH_MIGRATE="false")
    _error, stderr = _refused_unmigrated(env, "up", "--data-dir", str(tmp_path))
    assert "Traceback" not in stderr
    assert not (tmp_path / "bootstrap.json").exists()
    assert _schema(tmp_path / "authserver.db") == []
