"""`timesheets admin`, driven as an operator would: the real console script in a subprocess.

Each scenario points the command at the `database_url` fixture through
TIMESHEETS_AUTH_DATABASE_URL, so it runs on SQLite and on PostgreSQL, and checks what the
command printed and what it stored. Invocations are few and grouped: each costs a
process start, migrations and the tenant's transaction.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import json
import os
import re
import sys
import tomllib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.authserver.conftest import Tenant
from tests.conftest import TEST_KEK
from timesheets.authserver import admin
from timesheets.authserver.app import create_runtime
from timesheets.authserver.models import SigningKey
from timesheets.authserver.sealing import Sealer
from timesheets.settings import PLACEHOLDER_KEY, AuthServerSettings, sqlite_url

pytestmark = pytest.mark.timeout(900)

TIMESHEETS = Path(sys.executable).parent / "timesheets"
API = "https://api.timesheets.test"
IMPORT_SECRET = "import-job-secret-from-the-environment-0123456789"
TENANT_TOML = f"""
[[apis]]
name = "Timesheets API"
identifier = "{API}"
token_lifetime = 900
scopes = {{ "read:timesheets" = "Read timesheets", "batch:upload" = "Upload timesheets in batch" }}

[[clients]]
name = "Import Job"
type = "machine"
secret_env = "IMPORT_JOB_SECRET"
grants = [{{ api = "{API}", scopes = ["batch:upload"] }}]

[[clients]]
name = "Report Job"
client_id = "report-job-0001"
grants = [{{ api = "{API}", scopes = ["read:timesheets"] }}]
"""


@dataclass
class Result:
    """What one command did."""

    code: int
    stdout: str
    stderr: str


class Cli:
    """Runs `timesheets admin --data-dir D ...` with a fixed environment."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.env = env

    async def __call__(self, *args: str, code: int | None = 0) -> Result:
        """Run one command and check its exit code (None: any failure)."""
        process = await asyncio.create_subprocess_exec(
            str(TIMESHEETS),
            "admin",
            "--data-dir",
            str(self.data_dir),
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=300)
        result = Result(process.returncode or 0, out.decode(), err.decode())
        expected = result.code != 0 if code is None else result.code == code
        assert expected, (
            f"timesheets admin {' '.join(args)} exited {result.code}, expected {code}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        return result


def base_env(**values: str) -> dict[str, str]:
    """This process's environment without any TIMESHEETS_ setting, wide enough for tables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMESHEETS_")}
    env.update({"COLUMNS": "250", "IMPORT_JOB_SECRET": IMPORT_SECRET}, **values)
    return env


def cli_for(database_url: str, data_dir: Path) -> Cli:
    """A CLI against `database_url` with the test key-encryption key."""
    return Cli(
        data_dir,
        base_env(
            TIMESHEETS_AUTH_DATABASE_URL=database_url,
            TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY=TEST_KEK,
        ),
    )


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    """The CLI against the test database."""
    return cli_for(database_url, tmp_path / "data")


@pytest.fixture
def fresh_database_url(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A second empty database of the same kind as `database_url`."""
    if database_url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    return str(request.getfixturevalue("pg_server").new_database())


@pytest.fixture
def open_tenant(
    make_auth_settings: Callable[..., AuthServerSettings],
) -> Callable[..., Any]:
    """Open the tenant a command changed, to check what it stored."""

    @asynccontextmanager
    async def open_(database_url: str, **overrides: Any) -> AsyncIterator[Tenant]:
        runtime = create_runtime(make_auth_settings(database_url, **overrides))
        try:
            yield Tenant(runtime)
        finally:
            await runtime.engine.dispose()

    return open_


def rows(text: str) -> list[list[str]]:
    """The body rows of the rich tables in a command's output."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in text.splitlines()
        if line.strip().startswith("│")
    ]


def fields(text: str) -> dict[str, str]:
    """The `key: value` lines of a command's output."""
    return dict(
        line.split(": ", 1) for line in text.splitlines() if re.match(r"^[A-Za-z][^│┃:]*: ", line)
    )


def lines(text: str) -> list[str]:
    """Non-empty output lines."""
    return [line for line in text.splitlines() if line.strip()]


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


def one_line(text: str) -> str:
    """Output with boxes and line breaks flattened, for messages rich wraps in a panel."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


STORE_IT = "Store it now: it is shown once and kept only as a digest."
TENANT_TABLES = (
    "resource_servers",
    "scopes",
    "clients",
    "client_secrets",
    "client_grants",
    "signing_keys",
)


async def counts(tenant: Tenant) -> dict[str, int]:
    """Rows of the tables the tenant's rules write."""
    every = await tenant.row_counts()
    return {table: every[table] for table in TENANT_TABLES}


async def test_api_scope_and_grant_commands_configure_the_tenant(
    cli: Cli, database_url: str, open_tenant: Callable[..., Any]
) -> None:
    created = await cli(
        "api",
        "create",
        "--name",
        "Timesheets API",
        "--identifier",
        API,
        "--token-lifetime",
        "900",
        "--scope",
        "read:timesheets=Read timesheets",
        "--scope",
        "create:timesheets=Create timesheets",
    )
    match = re.fullmatch(
        rf"created API Timesheets API \({re.escape(API)}\) id (api_[0-9a-f]{{16}})\n",
        created.stdout,
    )
    assert match, created.stdout
    api_id = match.group(1)

    added = await cli("scope", "add", API, "delete:timesheets", "--description", "Delete them")
    assert added.stdout == f"added scope delete:timesheets to {API}\n"
    client = fields((await cli("client", "create", "--name", "Import Job")).stdout)
    granted = await cli("grant", "add", "Import Job", API, "read:timesheets", "create:timesheets")
    assert granted.stdout == f"granted Import Job read:timesheets create:timesheets on {API}\n"
    removed = await cli("scope", "remove", "Timesheets API", "read:timesheets")
    assert removed.stdout == "removed scope read:timesheets from Timesheets API\n"

    shown = await cli("api", "show", api_id)
    assert fields(shown.stdout) == {
        "name": "Timesheets API",
        "identifier": API,
        "id": api_id,
        "signing_alg": "RS256",
        "token_lifetime": "900",
        "permissions_claim": "False",
    }
    assert rows(shown.stdout) == [
        ["create:timesheets", "Create timesheets"],
        ["delete:timesheets", "Delete them"],
    ]
    listed = await cli("grant", "list")
    assert rows(listed.stdout) == [["Import Job", client["client_id"], API, "create:timesheets"]]

    refused = await cli("api", "delete", API, code=1)
    assert (
        refused.stderr == "error: API 'Timesheets API' still has client grants; remove them first\n"
    )
    assert refused.stdout == ""
    withdrawn = await cli("grant", "remove", "Import Job", API)
    assert withdrawn.stdout == f"removed the grant of Import Job on {API}\n"
    assert (await cli("api", "delete", API)).stdout == f"deleted API {API}\n"

    created = await cli(
        "api",
        "create",
        "--name",
        "Reports API",
        "--identifier",
        "https://reports.timesheets.test",
        "--signing-alg",
        "HS256",
        "--scope",
        "read:reports=Read reports",
        "--test-client",
    )
    printed = fields(created.stdout)
    hs256_secret = printed["HS256 secret (configure the API with it)"]
    assert len(hs256_secret) >= 43
    assert len(printed["test client_secret"]) >= 43
    assert created.stderr.count(STORE_IT) == 2
    listed = await cli("api", "list")
    reports, management = [row for row in rows(listed.stdout) if row[0]]  # wrapped scopes
    assert reports == [
        "Reports API",
        "https://reports.timesheets.test",
        "HS256",
        "3600",
        "read:reports",
    ]
    assert management[:4] == [
        "Timesheets Management API",
        "http://127.0.0.1:9000/api/v2/",
        "RS256",
        "3600",
    ]
    assert hs256_secret not in listed.stdout

    async with open_tenant(database_url) as tenant:
        stored = await counts(tenant)
        grants = await tenant.run(admin.list_grants)
    assert stored == {
        "resource_servers": 1,
        "scopes": 1,
        "clients": 2,
        "client_secrets": 2,
        "client_grants": 1,
        "signing_keys": 2,
    }
    assert [(c.name, c.client_id, g.scopes) for c, _a, g in grants] == [
        ("Reports API (Test Application)", printed["test client_id"], ["read:reports"])
    ]


async def test_client_commands_show_the_secret_once_and_rotate_it(
    cli: Cli, database_url: str, open_tenant: Callable[..., Any]
) -> None:
    created = await cli("client", "create", "--name", "Import Job")
    printed = fields(created.stdout)
    assert list(printed) == ["client_id", "client_secret"]
    client_id, first = printed["client_id"], printed["client_secret"]
    assert len(first) >= 43
    assert created.stderr == STORE_IT + "\n"

    spa = await cli(
        "client",
        "create",
        "--name",
        "Web App",
        "--type",
        "spa",
        "--redirect-uri",
        "https://app.timesheets.test/callback",
        "--web-origin",
        "https://app.timesheets.test",
        "--third-party",
        "--post-logout-redirect-uri",
        "https://app.timesheets.test/",
    )
    assert list(fields(spa.stdout)) == ["client_id"]
    shown_spa = fields((await cli("client", "show", "Web App")).stdout)
    assert shown_spa["first_party"] == "False"
    assert shown_spa["post_logout_redirect_uris"] == "['https://app.timesheets.test/']"
    assert "client_secret" not in spa.stdout + spa.stderr

    duplicate = await cli("client", "create", "--name", "Import Job", code=1)
    assert duplicate.stderr == "error: a client named 'Import Job' already exists\n"
    assert duplicate.stdout == ""

    start = datetime.now().astimezone()
    rotated = await cli("client", "rotate-secret", "Import Job", "--overlap", "600")
    end = datetime.now().astimezone()
    second = fields(rotated.stdout)["client_secret"]
    assert len(second) >= 43
    assert second != first
    assert STORE_IT in rotated.stderr

    shown = await cli("client", "show", client_id)
    assert first not in shown.stdout + shown.stderr
    assert second not in shown.stdout + shown.stderr
    assert fields(shown.stdout) == {
        "name": "Import Job",
        "client_id": client_id,
        "app_type": "machine",
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": "['client_credentials']",
        "redirect_uris": "[]",
        "web_origins": "[]",
        "post_logout_redirect_uris": "[]",
        "first_party": "True",
    }
    secrets_table = rows(shown.stdout)
    assert len(secrets_table) == 2
    assert secrets_table[0][1] != "never"
    assert secrets_table[1][1] == "never"

    listed = await cli("client", "list")
    spa_id = fields(spa.stdout)["client_id"]
    assert rows(listed.stdout) == [
        ["Import Job", client_id, "machine", "client_secret_post", "client_credentials"],
        ["Web App", spa_id, "spa", "none", "authorization_code refresh_token"],
    ]
    public = await cli("client", "rotate-secret", "Web App", code=1)
    assert public.stderr == "error: client 'Web App' is public and has no secret\n"
    assert (await cli("client", "delete", "Web App")).stdout == "deleted client Web App\n"

    async with open_tenant(database_url) as tenant:
        stored = await tenant.run(lambda s: admin.find_client(s, "Import Job"))
        clients = await tenant.run(admin.list_clients)
    assert [c.name for c in clients] == ["Import Job"]
    assert [s.digest for s in stored.secrets] == [digest(first), digest(second)]
    old, new = stored.secrets
    assert start + timedelta(seconds=600) <= old.expires_at <= end + timedelta(seconds=600)
    assert new.expires_at is None


def key_states(text: str) -> dict[str, list[str]]:
    """The rows of `keys list` by kid (RS256 keys only)."""
    table = rows(text)
    assert {row[1] for row in table} == {"RS256"}
    return {row[0]: row for row in table}


async def test_keys_rotate_promotes_the_next_key_and_keeps_the_old_one_published(
    cli: Cli, database_url: str, open_tenant: Callable[..., Any]
) -> None:
    before = key_states((await cli("keys", "list")).stdout)
    async with open_tenant(database_url) as tenant:
        await tenant.next_keys_published(3600)
    assert sorted(row[2] for row in before.values()) == ["current", "next"]
    current = next(kid for kid, row in before.items() if row[2] == "current")
    upcoming = next(kid for kid, row in before.items() if row[2] == "next")

    rotated = await cli("keys", "rotate")
    match = re.fullmatch(
        rf"signing with {re.escape(upcoming)}; {re.escape(current)} stays published until its "
        r"tokens expire\nnext key (\S+) is published and signs at the next rotation\n",
        rotated.stdout,
    )
    assert match, rotated.stdout
    fresh = match.group(1)

    after = key_states((await cli("keys", "list")).stdout)
    assert {kid: row[2] for kid, row in after.items()} == {
        current: "previous",
        upcoming: "current",
        fresh: "next",
    }
    activated = datetime.fromisoformat(after[upcoming][4])
    retires = datetime.fromisoformat(after[current][5])
    assert retires - activated == timedelta(seconds=3600 + 300)
    assert after[fresh][4] == ""


async def test_apply_then_export_round_trips_without_secrets(
    cli: Cli, database_url: str, fresh_database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "tenant.toml"
    source.write_text(TENANT_TOML)
    applied = await cli("apply", str(source))
    *changes, secret_line = lines(applied.stdout)
    assert changes == [
        f"created API {API}",
        "created client Import Job",
        f"granted Import Job batch:upload on {API}",
        "created client Report Job",
        f"granted Report Job read:timesheets on {API}",
    ]
    assert secret_line.startswith("secret of Report Job: ")
    generated = secret_line.removeprefix("secret of Report Job: ")
    assert len(generated) >= 43
    assert applied.stderr == STORE_IT + "\n"
    assert (await cli("apply", str(source))).stdout == "nothing to change\n"

    exported_file = tmp_path / "export.toml"
    written = await cli("export", "-o", str(exported_file))
    assert written.stdout == ""
    exported = tomllib.loads(exported_file.read_text())
    import_job_id = exported["clients"][0]["client_id"]
    assert re.fullmatch(r"[A-Za-z0-9_\-]{8,64}", import_job_id)
    common = {
        "type": "machine",
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["client_credentials"],
        "redirect_uris": [],
        "web_origins": [],
        "post_logout_redirect_uris": [],
        "first_party": True,
    }
    assert exported == {
        "apis": [
            {
                "name": "Timesheets API",
                "identifier": API,
                "signing_alg": "RS256",
                "token_lifetime": 900,
                "permissions_claim": False,
                "scopes": {
                    "batch:upload": "Upload timesheets in batch",
                    "read:timesheets": "Read timesheets",
                },
            }
        ],
        "clients": [
            {
                "name": "Import Job",
                "client_id": import_job_id,
                **common,
                "grants": [{"api": API, "scopes": ["batch:upload"]}],
            },
            {
                "name": "Report Job",
                "client_id": "report-job-0001",
                **common,
                "grants": [{"api": API, "scopes": ["read:timesheets"]}],
            },
        ],
        "roles": [],
        "users": [],
    }

    as_json = await cli("export", "--json")
    assert json.loads(as_json.stdout) == exported
    assert IMPORT_SECRET not in as_json.stdout
    assert generated not in as_json.stdout
    assert keys_of(exported).isdisjoint({"secret", "secret_env", "secrets", "sealed_secret"})
    assert IMPORT_SECRET not in exported_file.read_text()
    assert generated not in exported_file.read_text()

    assert (await cli("apply", str(exported_file))).stdout == "nothing to change\n"
    fresh = cli_for(fresh_database_url, tmp_path / "fresh-data")
    recreated = await fresh("apply", str(exported_file))
    assert lines(recreated.stdout)[:5] == changes
    assert sorted(line.split(":")[0] for line in lines(recreated.stdout)[5:]) == [
        "secret of Import Job",
        "secret of Report Job",
    ]
    assert json.loads((await fresh("export", "--json")).stdout) == exported


async def test_apply_creates_roles_and_users_with_the_password_from_the_environment(
    database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "tenant.toml"
    source.write_text(
        TENANT_TOML
        + f"""
[[roles]]
name = "Approver"
permissions = {{ "{API}" = ["read:timesheets"] }}

[[users]]
email = "erin@example.com"
name = "Erin"
roles = ["Approver"]
password_env = "ERIN_PASSWORD"
"""
    )
    unset = cli_for(database_url, tmp_path / "data")
    refused = await unset("apply", str(source), code=1)
    assert (
        refused.stderr
        == "error: user erin@example.com: environment variable ERIN_PASSWORD is unset\n"
    )
    cli = Cli(unset.data_dir, {**unset.env, "ERIN_PASSWORD": "erin-password-from-the-environment"})
    applied = await cli("apply", str(source))
    assert lines(applied.stdout)[5:8] == [
        "created role Approver",
        f"gave role Approver read:timesheets on {API}",
        "created user erin@example.com",
    ]
    listed = rows((await cli("user", "list")).stdout)
    assert [(row[0], row[2], row[4], row[5]) for row in listed] == [
        ("erin@example.com", "Erin", "yes", "Approver")
    ]


async def test_refusals_exit_1_with_the_reason_and_store_nothing(
    cli: Cli, database_url: str, tmp_path: Path, open_tenant: Callable[..., Any]
) -> None:
    unknown = await cli("api", "show", "https://nope.timesheets.test", code=1)
    assert unknown.stderr == "error: no API named 'https://nope.timesheets.test'\n"
    assert unknown.stdout == ""

    broken = tmp_path / "broken.toml"
    broken.write_text(
        TENANT_TOML
        + f"""
[[clients]]
name = "Approver"
grants = [{{ api = "{API}", scopes = ["approve:timesheets"] }}]
"""
    )
    refused = await cli("apply", str(broken), code=1)
    assert refused.stderr == "error: API 'Timesheets API' has no scope approve:timesheets\n"
    assert refused.stdout == ""
    async with open_tenant(database_url) as tenant:
        stored = await counts(tenant)
    assert stored == {
        "resource_servers": 0,
        "scopes": 0,
        "clients": 0,
        "client_secrets": 0,
        "client_grants": 0,
        "signing_keys": 2,
    }


async def test_missing_key_encryption_key_is_refused_outside_dev_mode(tmp_path: Path) -> None:
    database = tmp_path / "auth.db"
    env = base_env(TIMESHEETS_AUTH_DATABASE_URL=sqlite_url(database))
    cli = Cli(tmp_path / "data", env)
    result = await cli("api", "list", code=None)
    assert result.stdout == ""
    assert "TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY is required outside development mode" in one_line(
        result.stderr
    )
    assert not database.exists()

    cli.env = {**env, "TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY": PLACEHOLDER_KEY}
    placeholder = await cli("api", "list", code=None)
    assert "the placeholder key-encryption key is refused outside development" in one_line(
        placeholder.stderr
    )
    assert not database.exists()


async def test_keys_rotate_refuses_an_algorithm_without_keys_and_a_next_key_just_published(
    cli: Cli, database_url: str, open_tenant: Callable[..., Any]
) -> None:
    """`--force` promotes a next key however recent; a refusal changes nothing."""
    await cli("keys", "list")
    async with open_tenant(database_url) as tenant:
        await tenant.next_keys_published(0)
    before = (await cli("keys", "list")).stdout

    no_keys = await cli("keys", "rotate", "--alg", "ES256", code=1)
    assert "no ES256 key signs yet" in one_line(no_keys.stderr)
    too_soon = await cli("keys", "rotate", code=1)
    assert "resource servers may not have fetched it yet" in one_line(too_soon.stderr)
    assert "or force the rotation" in one_line(too_soon.stderr)
    assert no_keys.stdout == too_soon.stdout == ""
    assert (await cli("keys", "list")).stdout == before

    upcoming = next(kid for kid, row in key_states(before).items() if row[2] == "next")
    forced = await cli("keys", "rotate", "--force")
    assert forced.stdout.startswith(f"signing with {upcoming};"), forced.stdout


async def test_another_key_encryption_key_is_refused_naming_the_setting(
    cli: Cli, database_url: str
) -> None:
    await cli("keys", "list")
    other = "not-the-key-these-were-sealed-with-0123"
    cli.env = {**cli.env, "TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY": other}
    refused = await cli("keys", "rotate", code=1)
    assert refused.stdout == ""
    assert "do not open with TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY" in one_line(refused.stderr)
    assert other not in refused.stderr
    assert "Traceback" not in refused.stderr


async def test_the_data_dirs_key_file_stands_in_for_the_variable(
    tmp_path: Path, open_tenant: Callable[..., Any]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    key = "a-key-written-by-timesheets-up-0123456789"
    (data_dir / "key-encryption.key").write_text(key + "\n")
    cli = Cli(data_dir, base_env())
    created = await cli("client", "create", "--name", "Import Job")
    assert "client_id" in fields(created.stdout)

    database = data_dir / "authserver.db"
    assert database.exists()
    async with open_tenant(sqlite_url(database), key_encryption_key=key) as tenant:
        client = await tenant.run(lambda s: admin.find_client(s, "Import Job"))
        signing_keys = list(await tenant.run(lambda s: s.scalars(select(SigningKey))))
    assert client.client_id == fields(created.stdout)["client_id"]
    assert len(signing_keys) == 2
    for row in signing_keys:
        assert Sealer(key).open(row.sealed_private_key, f"signing-key:{row.kid}")


async def test_audit_lists_the_changes_commands_made_newest_first(cli: Cli) -> None:
    created = await cli("client", "create", "--name", "Import Job")
    client_id = fields(created.stdout)["client_id"]
    await cli("client", "rotate-secret", client_id)
    await cli("client", "create", "--name", "Import Job", code=1)  # refused: not recorded

    everything = await cli("audit", "--json")
    events = [json.loads(line) for line in lines(everything.stdout)]
    changes = [e for e in events if e["subject"] == client_id]
    assert [e["kind"] for e in changes] == ["client.secret_rotated", "client.created"]
    assert {e["actor"] for e in changes} == {f"cli:{getpass.getuser()}"}
    assert [e["kind"] for e in events].count("client.created") == 1
    secret = fields(created.stdout)["client_secret"]
    assert secret not in everything.stdout

    filtered = await cli("audit", "--kind", "client.created", "--limit", "5")
    assert [row[2] for row in rows(filtered.stdout)] == ["client.created"]
    later = await cli("audit", "--since", "2999-01-01")
    assert rows(later.stdout) == []
    bad = await cli("audit", "--since", "yesterday", code=2)
    assert "--since must be an ISO 8601 date or time" in one_line(bad.stderr)


async def test_people_and_client_switches_through_the_same_rules(
    cli: Cli, database_url: str, open_tenant: Callable[..., Any]
) -> None:
    with_password = Cli(cli.data_dir, cli.env | {"TIMESHEETS_USER_PASSWORD": "correct horse 123"})
    await with_password("user", "create", "--email", "dan@abc.example", "--name", "Dan")
    await cli("role", "create", "Auditor")
    await cli("user", "assign-role", "dan@abc.example", "Auditor")
    await cli("user", "remove-role", "dan@abc.example", "Auditor")
    not_held = await cli("user", "remove-role", "dan@abc.example", "Auditor", code=1)
    assert not_held.stderr == "error: user dan@abc.example does not hold role 'Auditor'\n"
    await cli("role", "delete", "Auditor")
    await cli("user", "delete", "dan@abc.example")
    gone = await cli("user", "delete", "dan@abc.example", code=1)
    assert gone.stderr == "error: no user 'dan@abc.example'\n"

    created = await cli("client", "create", "--name", "Import Job")
    client_id = fields(created.stdout)["client_id"]
    await cli("client", "disable", "Import Job")
    async with open_tenant(database_url) as tenant:
        assert await tenant.runtime.client(client_id) is None
    await cli("client", "enable", "Import Job")
    async with open_tenant(database_url) as tenant:
        assert await tenant.runtime.client(client_id) is not None

    events = [json.loads(line) for line in lines((await cli("audit", "--json")).stdout)]
    assert [e["kind"] for e in reversed(events)] == [
        "key.created",
        "key.created",
        "api.created",
        "user.created",
        "role.created",
        "user.role_assigned",
        "user.role_removed",
        "role.deleted",
        "user.deleted",
        "client.created",
        "client.updated",
        "client.updated",
    ]
