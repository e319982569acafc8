"""The import job end to end, as cron runs it: `timesheets authserver` and `timesheets api`
as subprocesses configured with the admin CLI, and `timesheets import` as a subprocess with
its settings in the environment.

Exactly once is checked through everything that can go wrong between two runs: a re-run,
the API killed (SIGKILL) and restarted in the middle of a 20,000-row import, an expired or
stale cached token, and a revoked secret. Every subprocess runs in its own session and is
stopped (SIGTERM, then SIGKILL of its process group); every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.importer import FIXTURES
from tests.pg import free_port

pytestmark = pytest.mark.timeout(900)

TIMESHEETS = str(Path(sys.executable).with_name("timesheets"))
KEK = "import-e2e-key-encryption-key-0123456789"
AUDIENCE = "https://api.timesheets.local"
PEOPLE = FIXTURES / "people.csv"
COMMAND_TIMEOUT = 120.0
IMPORT_TIMEOUT = 300.0
START_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0
BIG_IMPORT_ROWS = 20_000


def command_env(bytecode_cache: Path, **extra: str) -> dict[str, str]:
    """A `timesheets` subprocess's environment: no inherited TIMESHEETS_* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIMESHEETS_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    env.update(extra)
    return env


def printed(label: str, output: str) -> str:
    """The value of a `label: value` line the admin CLI printed."""
    match = re.search(rf"^{re.escape(label)}: (\S+)\s*$", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return match.group(1)


@dataclass
class Server:
    """A `timesheets` server subprocess in its own process group, and its log."""

    args: list[str]
    env: dict[str, str]
    log: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        """Start the process (appending to the log) and wait until /healthz answers."""
        with open(self.log, "ab") as handle:
            self.process = subprocess.Popen(
                [TIMESHEETS, *self.args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.args[0]} exited with {self.process.returncode}:\n{self.output()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        pytest.fail(f"{self.args[0]} not healthy within {START_TIMEOUT} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, no graceful shutdown."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left."""
        if self.process is None:
            return
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
class Run:
    """A finished `timesheets import`."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        """The counts of the `import finished` log line."""
        for line in reversed(self.stderr.splitlines()):
            if line.startswith("{") and '"import finished"' in line:
                return dict(json.loads(line)["summary"])
        raise AssertionError(f"no summary line in:\n{self.stderr[-3000:]}")

    def uploads(self) -> int:
        return self.stderr.count("/timesheets/upload")


@dataclass
class Platform:
    """The running services, the tenant's clients and the admin CLI."""

    data_dir: Path
    env: dict[str, str]
    authserver: Server
    api: Server
    job: tuple[str, str]
    reader: tuple[str, str]
    secrets: list[str] = field(default_factory=list)
    audience: str = AUDIENCE

    def admin(self, *args: str) -> str:
        """`timesheets admin --data-dir DIR ARGS...`, which must exit 0; its output."""
        return admin(self.data_dir, self.env, *args)

    def machine_client(self, name: str, *scopes: str) -> tuple[str, str]:
        """A new machine client granted `scopes` on the API.

        The admin commands name the client by its name: a generated client id may begin
        with "-", which the command line would take for an option.
        """
        output = self.admin("client", "create", "--name", name, "--type", "machine")
        client = (printed("client_id", output), printed("client_secret", output))
        self.admin("grant", "add", name, AUDIENCE, *scopes)
        self.secrets.append(client[1])
        return client

    def run_import(
        self,
        source: Path,
        state_dir: Path,
        *args: str,
        client: tuple[str, str] | None = None,
        wait: bool = True,
    ) -> Run:
        """`timesheets import SOURCE --state-dir DIR ARGS...` with the job's settings in the
        environment; the output must never hold a client secret."""
        client_id, secret = client or self.job
        env = self.env | {
            "TIMESHEETS_ISSUER": self.authserver.url,
            "TIMESHEETS_AUDIENCE": self.audience,
            "TIMESHEETS_API_URL": self.api.url,
            "TIMESHEETS_CLIENT_ID": client_id,
            "TIMESHEETS_CLIENT_SECRET": secret,
        }
        env.pop("TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY", None)
        result = subprocess.run(
            [TIMESHEETS, "import", str(source), "--state-dir", str(state_dir), *args],
            env=env,
            cwd=state_dir.parent,
            capture_output=True,
            text=True,
            timeout=IMPORT_TIMEOUT,
            check=False,
        )
        run = Run(result.returncode, result.stdout, result.stderr)
        self.assert_no_secret(run.stdout + run.stderr, *state_files(state_dir))
        return run

    def assert_no_secret(self, *texts: str) -> None:
        for secret in self.secrets:
            for text in texts:
                assert secret not in text, "a client secret leaked into the job's output"

    def token(self, client: tuple[str, str]) -> str:
        response = httpx.post(
            f"{self.authserver.url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "audience": self.audience,
                "client_id": client[0],
                "client_secret": client[1],
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def total(self) -> int:
        """How many entries the API holds, as the reader client sees them (X-Total-Count)."""
        response = httpx.get(
            f"{self.api.url}/timesheets",
            params={"limit": 1},
            headers={"Authorization": f"Bearer {self.token(self.reader)}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return int(response.headers["x-total-count"])

    def repeated_external_ids(self) -> list[tuple[str, int]]:
        """External ids stored more than once, read from the API's SQLite file."""
        database = sqlite3.connect(f"file:{self.data_dir / 'api.db'}?mode=ro", uri=True)
        try:
            return database.execute(
                "SELECT external_id, count(*) FROM entries WHERE external_id IS NOT NULL "
                "GROUP BY created_by_client, external_id HAVING count(*) > 1"
            ).fetchall()
        finally:
            database.close()

    def stored_with_prefix(self, prefix: str) -> int:
        database = sqlite3.connect(f"file:{self.data_dir / 'api.db'}?mode=ro", uri=True)
        try:
            return int(
                database.execute(
                    "SELECT count(*) FROM entries WHERE external_id LIKE ?", (prefix + "%",)
                ).fetchone()[0]
            )
        finally:
            database.close()


def state_files(state_dir: Path) -> list[str]:
    """The text of every file in a state directory (bytes decoded leniently)."""
    if not state_dir.exists():
        return []
    return [p.read_bytes().decode(errors="replace") for p in state_dir.iterdir() if p.is_file()]


def admin(data_dir: Path, env: dict[str, str], *args: str) -> str:
    """`timesheets admin --data-dir DIR ARGS...`, which must exit 0; its output."""
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


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The tenant configured with the admin CLI, and both services on free loopback ports.

    Each test uses its own people, days and state directory, so they share the services.
    """
    root = tmp_path_factory.mktemp("import-e2e")
    data_dir = root / "data"
    env = command_env(
        root / "pycache",
        TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY=KEK,
        # A rotated secret must stop working at once, not after the client cache expires.
        TIMESHEETS_AUTH_CLIENT_CACHE_SECONDS="0",
    )
    admin(
        data_dir,
        env,
        *("api", "create", "--name", "Timesheets API", "--identifier", AUDIENCE),
        *("--scope", "create:timesheets=Create", "--scope", "read:timesheets=Read"),
        *("--scope", "batch:upload=Upload"),
    )
    servers: list[Server] = []
    try:
        auth_port, api_port = free_port(), free_port()
        issuer = f"http://127.0.0.1:{auth_port}"
        authserver = Server(
            [
                "authserver",
                "--data-dir",
                str(data_dir),
                "--port",
                str(auth_port),
                "--issuer",
                issuer,
            ],
            env,
            root / "authserver.log",
            auth_port,
        )
        servers.append(authserver)
        authserver.start()
        api = Server(
            [
                *("api", "--data-dir", str(data_dir), "--port", str(api_port)),
                *("--issuer", issuer, "--audience", AUDIENCE),
            ],
            env,
            root / "api.log",
            api_port,
        )
        servers.append(api)
        api.start()
        platform = Platform(data_dir, env, authserver, api, ("", ""), ("", ""))
        platform.job = platform.machine_client(
            "Timesheets Import Job", "create:timesheets", "batch:upload"
        )
        platform.reader = platform.machine_client("Report Reader", "read:timesheets")
        yield platform
    finally:
        for server in reversed(servers):
            server.stop()


def write_generic(path: Path, rows: int, *, prefix: str, first_day: date, people: int) -> Path:
    """A generic CSV of one-hour entries: `people` people, one entry per person and day."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("external_id,user_id,user_type,date,project,hours,description\n")
        for n in range(rows):
            day = first_day + timedelta(days=n // people)
            handle.write(f"{prefix}-{n},{prefix}-u{n % people},Employee,{day},Imports,1,row {n}\n")
    return path


def test_a_clean_import_then_the_same_import_again(platform: Platform, tmp_path: Path) -> None:
    state = tmp_path / "state"
    before = platform.total()
    first = platform.run_import(
        FIXTURES / "clockify_eu.csv", state, "--format", "clockify", "--mapping", str(PEOPLE)
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.summary | {"elapsed_seconds": 0, "read": 0} == {
        "read": 0,
        "entries": 4,  # three rows, one of them split at midnight
        "created": 4,
        "already_present": 0,
        "duplicates": 0,
        "rejected": 0,
        "elapsed_seconds": 0,
        "dry_run": False,
    }
    assert platform.total() == before + 4
    assert (state / "token.json").stat().st_mode & 0o777 == 0o600

    again = platform.run_import(
        FIXTURES / "clockify_eu.csv", state, "--format", "clockify", "--mapping", str(PEOPLE)
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert (again.summary["created"], again.summary["already_present"]) == (0, 4)
    assert again.uploads() == 0
    assert platform.total() == before + 4

    toggl = platform.run_import(
        FIXTURES / "toggl_detailed.csv", state, "--format", "toggl", "--mapping", str(PEOPLE)
    )
    assert toggl.returncode == 65, toggl.stderr[-3000:]
    assert (toggl.summary["created"], toggl.summary["rejected"]) == (5, 2)
    assert '"row": 7' in toggl.stderr
    assert "ghost@nowhere.example" in toggl.stderr
    assert platform.total() == before + 9
    assert platform.repeated_external_ids() == []


def test_the_api_killed_and_restarted_mid_import_still_stores_each_entry_once(
    platform: Platform, tmp_path: Path
) -> None:
    source = write_generic(
        tmp_path / "big.csv", BIG_IMPORT_ROWS, prefix="kill", first_day=date(2025, 1, 6), people=100
    )
    state = tmp_path / "state"
    client_id, secret = platform.job
    env = platform.env | {
        "TIMESHEETS_ISSUER": platform.authserver.url,
        "TIMESHEETS_AUDIENCE": AUDIENCE,
        "TIMESHEETS_API_URL": platform.api.url,
        "TIMESHEETS_CLIENT_ID": client_id,
        "TIMESHEETS_CLIENT_SECRET": secret,
    }
    job_log = tmp_path / "job.log"
    with open(job_log, "wb") as handle:
        job = subprocess.Popen(
            [TIMESHEETS, "import", str(source), "--state-dir", str(state), "--batch-size", "100"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=handle,
            start_new_session=True,
        )
    try:
        # Kill the API once a few batches went through, in the middle of the upload.
        deadline = time.monotonic() + IMPORT_TIMEOUT
        while job_log.read_text(errors="replace").count("/timesheets/upload") < 5:
            assert job.poll() is None, f"the job ended before the kill:\n{job_log.read_text()}"
            assert time.monotonic() < deadline, "the job never started uploading"
            time.sleep(0.05)
        platform.api.kill()
        killed_at = platform.stored_with_prefix("generic:kill-")
        platform.api.start()
        first_exit = job.wait(timeout=IMPORT_TIMEOUT)
    finally:
        if job.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.pid, signal.SIGKILL)
            job.wait(timeout=STOP_TIMEOUT)
    first_output = job_log.read_text(errors="replace")
    platform.assert_no_secret(first_output, *state_files(state))
    print(f"API killed with {killed_at} entries stored; the job then exited {first_exit}")
    assert 0 < killed_at < BIG_IMPORT_ROWS
    # Depending on how long the restart took, the job's retries carried it through or
    # it gave up with "try again later".
    assert first_exit in (0, 75), first_output[-3000:]

    rerun = platform.run_import(source, state, "--batch-size", "500")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert rerun.summary["entries"] == BIG_IMPORT_ROWS
    assert rerun.summary["already_present"] + rerun.summary["created"] == BIG_IMPORT_ROWS
    if first_exit == 0:
        assert rerun.summary["created"] == 0
    assert platform.stored_with_prefix("generic:kill-") == BIG_IMPORT_ROWS
    assert platform.repeated_external_ids() == []


def test_an_expired_or_stale_cached_token_is_replaced(platform: Platform, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = platform.run_import(
        write_generic(tmp_path / "a.csv", 3, prefix="tok-a", first_day=date(2025, 3, 3), people=1),
        state,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    cache = state / "token.json"
    document = json.loads(cache.read_text())
    old_token = document["access_token"]

    document["expires_at"] = time.time() - 3600  # expired an hour ago
    cache.write_text(json.dumps(document))
    expired = platform.run_import(
        write_generic(tmp_path / "b.csv", 3, prefix="tok-b", first_day=date(2025, 3, 3), people=1),
        state,
    )
    assert expired.returncode == 0, expired.stderr[-3000:]
    assert expired.summary["created"] == 3
    renewed = json.loads(cache.read_text())
    assert renewed["access_token"] != old_token
    assert renewed["expires_at"] > time.time() + 60
    assert expired.stderr.count("obtained an access token") == 1

    # A token the API no longer accepts but that has not expired: one 401, one new token.
    renewed["access_token"] = old_token[:-8] + "AAAAAAAA"
    cache.write_text(json.dumps(renewed))
    stale = platform.run_import(
        write_generic(tmp_path / "c.csv", 3, prefix="tok-c", first_day=date(2025, 3, 3), people=1),
        state,
    )
    assert stale.returncode == 0, stale.stderr[-3000:]
    assert stale.summary["created"] == 3
    assert stale.stderr.count("obtained an access token") == 1
    assert "401 Unauthorized" in stale.stderr


def test_a_revoked_secret_is_not_authorized(platform: Platform, tmp_path: Path) -> None:
    client = platform.machine_client("Nightly Import", "create:timesheets", "batch:upload")
    state = tmp_path / "state"
    source = write_generic(
        tmp_path / "a.csv", 2, prefix="rev", first_day=date(2025, 4, 7), people=1
    )
    assert platform.run_import(source, state, client=client).returncode == 0

    rotated = platform.admin("client", "rotate-secret", "Nightly Import", "--overlap", "0")
    platform.secrets.append(printed("client_secret", rotated))
    (state / "token.json").unlink()  # otherwise the cached token would serve until it expires
    more = write_generic(
        tmp_path / "b.csv", 2, prefix="rev-b", first_day=date(2025, 4, 7), people=1
    )
    refused = platform.run_import(more, state, client=client)
    assert refused.returncode == 77, refused.stderr[-3000:]
    assert "invalid_client" in refused.stderr
    assert platform.stored_with_prefix("generic:rev-b") == 0


def test_with_the_authorization_server_down_the_api_serves_and_the_job_exits_75(
    platform: Platform, tmp_path: Path
) -> None:
    # The API keeps accepting valid tokens with the keys it cached; the import job, which
    # has no cached token of its own, cannot get one and asks cron to try again later.
    token = platform.token(platform.job)
    entry = {"user_type": "Employee", "year": 2025, "week": 20, "project": "Outage", "hours": 1}
    headers = {"Authorization": f"Bearer {token}"}
    warm = httpx.post(
        f"{platform.api.url}/timesheets", json=entry | {"user_id": "down-0"}, headers=headers
    )
    assert warm.status_code == 201, warm.text
    platform.authserver.stop()
    try:
        for n in range(1, 4):
            during = httpx.post(
                f"{platform.api.url}/timesheets",
                json=entry | {"user_id": f"down-{n}"},
                headers=headers,
                timeout=10,
            )
            assert during.status_code == 201, during.text
        source = write_generic(
            tmp_path / "down.csv", 3, prefix="down", first_day=date(2025, 5, 12), people=1
        )
        started = time.monotonic()
        run = platform.run_import(source, tmp_path / "state")
        assert run.returncode == 75, run.stderr[-3000:]
        assert "the authorization server is unreachable" in run.stderr
        assert time.monotonic() - started < IMPORT_TIMEOUT
        assert platform.stored_with_prefix("generic:down") == 0
    finally:
        platform.authserver.start()


def test_a_secret_rotated_during_an_import_works_through_its_overlap_then_stops(
    platform: Platform, tmp_path: Path
) -> None:
    old = platform.machine_client("Rotating Import", "create:timesheets", "batch:upload")
    source = write_generic(
        tmp_path / "rot.csv", 3000, prefix="rot", first_day=date(2024, 1, 1), people=30
    )
    outcome: list[Run] = []
    job = threading.Thread(
        target=lambda: outcome.append(platform.run_import(source, tmp_path / "s1", client=old))
    )
    job.start()
    rotated = platform.admin("client", "rotate-secret", "Rotating Import", "--overlap", "3600")
    new = (old[0], printed("client_secret", rotated))
    platform.secrets.append(new[1])
    job.join(IMPORT_TIMEOUT)
    assert len(outcome) == 1, "the import did not finish"
    assert outcome[0].returncode == 0, outcome[0].stderr[-3000:]
    assert platform.stored_with_prefix("generic:rot-") == 3000
    # Within the overlap the old secret still gets a token (a fresh state: no cached one).
    more = write_generic(
        tmp_path / "more.csv", 2, prefix="rotb", first_day=date(2024, 6, 3), people=1
    )
    assert platform.run_import(more, tmp_path / "s2", client=old).returncode == 0
    # Once the overlap is cut, the old secret is refused and the new one works.
    again = platform.admin("client", "rotate-secret", "Rotating Import", "--overlap", "0")
    newest = (old[0], printed("client_secret", again))
    platform.secrets.append(newest[1])
    late = write_generic(
        tmp_path / "late.csv", 2, prefix="rotc", first_day=date(2024, 7, 1), people=1
    )
    refused = platform.run_import(late, tmp_path / "s3", client=old)
    assert refused.returncode == 77, refused.stderr[-3000:]
    assert platform.stored_with_prefix("generic:rotc-") == 0
    assert platform.run_import(late, tmp_path / "s4", client=newest).returncode == 0
    assert platform.stored_with_prefix("generic:rotc-") == 2
