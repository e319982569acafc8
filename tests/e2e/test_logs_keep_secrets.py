"""No secret and no token in any log line of a full run of the platform.

`timesheets authserver` (two worker processes) and `timesheets api` run as subprocesses
with their logs in files, at INFO: the only level the services log at (`configure()` is
called without a level; no setting changes it). The tenant is configured with
`timesheets admin` (commands and config as code), the import job runs as cron runs it,
and a browser signs in with a password, consents and uses its tokens. Every secret that
crossed the wire or sits in the data directory is collected; then every line of every
log (the services', the import job's, and the admin commands' standard error) is
searched for each of them (as is, URL-encoded, JSON-escaped, and any 20-character run of
one, which catches a truncated token) and for any JWT-shaped string at all. The
services' and the job's lines must also be JSON objects, and a line written while a
request is served must carry its request id: the caller's `X-Request-Id` when it sent
one.

The check itself is tested on synthetic lines and on real lines with a secret put in,
so a leak would be seen. SQLite only: what is logged does not depend on the database,
and the run stays short.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.authserver.flows import AUTHORIZE, CSRF, authorize_and_login, pkce_pair
from tests.e2e.test_import_e2e import (
    TIMESHEETS,
    Server,
    command_env,
    printed,
    write_generic,
)
from tests.e2e.test_import_e2e import Platform as ImportPlatform
from tests.e2e.test_scenario import SEED_ENTRY
from tests.pg import free_port
from timesheets.authserver.app import create_runtime
from timesheets.authserver.keys import private_key_bytes
from timesheets.authserver.oauth.rfc9068 import access_token_header
from timesheets.cli import auth_settings
from timesheets.datadir import ensure_key_file, key_file

pytestmark = pytest.mark.timeout(300)

AUDIENCE = "https://api.timesheets.local"
REPORTS = "https://reports.timesheets.local"
REDIRECT = "https://timesheets.example.com/callback"
PARTNER_REDIRECT = "https://partner.example.com/callback"
EMAIL = "dana@abc.example"
# Characters that URL-encoding and JSON escape differently, so each spelling is searched.
PASSWORD = 'correct horse/battery+staple "7"'
WRONG_PASSWORD = 'correct horse/battery+stapler "8"'
NIGHTLY_SECRET = "nightly-report-secret-from-the-environment-0123456789"
COMMAND_TIMEOUT = 120.0
#: A run of this many characters of a secret, anywhere in a line, is a leak.
WINDOW = 20
JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
#: Loggers that write only while a request is being served: each line needs its id.
REQUEST_LOGGERS = frozenset(
    {
        "timesheets.authserver.token",
        "timesheets.authserver.tokens",
        "timesheets.authserver.login",
        "timesheets.api",
        "timesheets.bearer",
    }
)


# --- the check ----------------------------------------------------------------------------


def spellings(value: str) -> set[str]:
    """How a value can appear in a log line: as is, URL-encoded, JSON-escaped."""
    return {
        value,
        quote(value, safe=""),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }


class LeakFinder:
    """Finds secrets, whole or any WINDOW characters of one, and JWT-shaped strings."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.windows: dict[str, set[str]] = {}
        for value, label in secrets.items():
            assert len(value) >= WINDOW, f"{label} is too short to search for without noise"
            for form in spellings(value):
                for start in range(len(form) - WINDOW + 1):
                    self.windows.setdefault(form[start : start + WINDOW], set()).add(label)

    def find(self, line: str) -> list[str]:
        """What leaks in one line: the secrets' labels, and JWT-shaped strings."""
        found = {"a JWT-shaped string"} if JWT_SHAPED.search(line) else set()
        for start in range(len(line) - WINDOW + 1):
            found |= self.windows.get(line[start : start + WINDOW], set())
        return sorted(found)


@dataclass
class Secrets:
    """Every secret value seen during the run, with what it is."""

    labels: dict[str, str] = field(default_factory=dict)

    def add(self, label: str, value: object) -> str:
        assert isinstance(value, str), f"{label} is not a string"
        assert value, f"no {label} to collect"
        self.labels.setdefault(value, label)
        return value

    def basic(self, label: str, client_id: str, secret: str) -> None:
        """A client secret, and the Authorization header value that carries it."""
        self.add(label, secret)
        pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
        self.add(f"Basic credentials of {label}", base64.b64encode(pair).decode())


def test_the_check_flags_a_leak_and_passes_a_clean_line() -> None:
    token = jwt.encode({"sub": "x", "scope": "read:timesheets"}, "k" * 32, "HS256")
    finder = LeakFinder(
        {
            PASSWORD: "password",
            "e3Bq0mW7xN2vK9rT5yH8uJ4iO6pL1aS0dF": "client secret",
            "0123456789abcdef" * 4: "CSRF token",
        }
    )
    clean = '{"level": "info", "message": "login failed", "address": "127.0.0.1"}'
    assert finder.find(clean) == []
    for line, leaked in [
        (
            '{"message": "token request", "client_secret": "e3Bq0mW7xN2vK9rT5yH8uJ4iO6pL1aS0dF"}',
            "client secret",
        ),
        (
            '{"message": "login", "form": "password=correct+horse%2Fbattery%2Bstaple+%227%22"}',
            "password",
        ),
        (json.dumps({"password": PASSWORD}), "password"),
        ('{"message": "secret e3Bq0mW7xN2vK9rT5yH8u..."}', "client secret"),  # truncated
        ('{"csrf": "0123456789abcdef0123456789abcdef"}', "CSRF token"),
        (json.dumps({"authorization": f"Bearer {token}"}), "a JWT-shaped string"),
    ]:
        assert leaked in finder.find(line), line


# --- the run ------------------------------------------------------------------------------


@dataclass
class Log:
    """A captured log; `json_lines`: every line must be a JSON object."""

    name: str
    path: Path
    json_lines: bool

    def lines(self) -> list[str]:
        return self.path.read_text(errors="replace").splitlines()


@dataclass
class Run:
    """What a full run left: its logs, its secrets, and the request ids they must show."""

    logs: list[Log]
    secrets: Secrets
    logged_ids: dict[str, str]  # request id -> the log that must show it


@dataclass
class Tenant:
    """The admin CLI on one data directory; its error output is kept as a log."""

    data_dir: Path
    env: dict[str, str]
    output: Path

    def admin(self, *args: str) -> str:
        """`timesheets admin ARGS...`, which must exit 0; its standard output."""
        result = subprocess.run(
            [TIMESHEETS, "admin", "--data-dir", str(self.data_dir), *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        with self.output.open("a") as handle:
            handle.write(result.stderr)
        assert result.returncode == 0, f"admin {args}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def each(self, *commands: tuple[str, ...]) -> list[str]:
        """Several admin commands, one after another; their outputs."""
        return [self.admin(*args) for args in commands]


def configure_tenant(tenant: Tenant, secrets: Secrets) -> dict[str, tuple[str, str]]:
    """APIs, clients, grants (by commands and by config as code), a role and a person;
    two secrets rotated. Client ids and secrets by name (a public client's is empty)."""
    created = tenant.admin(
        *("api", "create", "--name", "Timesheets API", "--identifier", AUDIENCE),
        *("--scope", "read:timesheets=Read", "--scope", "create:timesheets=Create"),
        *("--scope", "batch:upload=Upload", "--test-client"),
    )
    secrets.add("the API's test client secret", printed("test client_secret", created))
    machine = ("client", "create", "--type", "machine", "--auth-method")
    job, payroll, _role = tenant.each(
        (*machine, "client_secret_post", "--name", "Import Job"),
        (*machine, "client_secret_basic", "--name", "Payroll"),
        ("role", "create", "Employee"),
    )
    clients = {
        "Import Job": (printed("client_id", job), printed("client_secret", job)),
        "Payroll": (printed("client_id", payroll), printed("client_secret", payroll)),
        "Timesheets SPA": ("timesheets-spa", ""),
        "Partner": ("partner-app", ""),
        "Nightly Report": ("nightly-report", NIGHTLY_SECRET),
    }
    document = tenant.data_dir.parent / "tenant.toml"
    document.write_text(
        f"""
[[apis]]
name = "Reports"
identifier = "{REPORTS}"
signing_alg = "HS256"
scopes = {{ "read:reports" = "Read reports" }}

[[clients]]
name = "Payroll"
grants = [{{ api = "{AUDIENCE}", scopes = ["read:timesheets"] }}]

[[clients]]
name = "Timesheets SPA"
client_id = "timesheets-spa"
type = "spa"
redirect_uris = ["{REDIRECT}"]
grants = [{{ api = "{AUDIENCE}", scopes = ["read:timesheets", "create:timesheets"] }}]

[[clients]]
name = "Partner"
client_id = "partner-app"
type = "spa"
first_party = false
redirect_uris = ["{PARTNER_REDIRECT}"]
grants = [{{ api = "{AUDIENCE}", scopes = ["read:timesheets"] }}]

[[clients]]
name = "Nightly Report"
client_id = "nightly-report"
type = "machine"
token_endpoint_auth_method = "client_secret_basic"
secret_env = "NIGHTLY_SECRET"
grants = [{{ api = "{REPORTS}", scopes = ["read:reports"] }}]
"""
    )
    _grant, applied, _permissions = tenant.each(
        ("grant", "add", "Import Job", AUDIENCE, "create:timesheets", "batch:upload"),
        ("apply", str(document)),
        ("role", "set-permissions", "Employee", AUDIENCE, "read:timesheets", "create:timesheets"),
    )
    secrets.add("the Reports API's HS256 secret", printed(f"secret of {REPORTS}", applied))

    # The import job's old secret works for an hour more; Payroll's old one stops at once.
    _user, *rotated = tenant.each(
        ("user", "create", "--email", EMAIL, "--name", "Dana", "--role", "Employee"),
        ("client", "rotate-secret", "Import Job", "--overlap", "3600"),
        ("client", "rotate-secret", "Payroll", "--overlap", "0"),
    )
    for name in ("Import Job", "Payroll"):
        secrets.basic(f"{name} client secret", *clients[name])
        clients[f"{name} (old)"] = clients[name]
        clients[name] = (clients[name][0], printed("client_secret", rotated.pop(0)))
        secrets.basic(f"{name} rotated client secret", *clients[name])
    secrets.basic("Nightly Report client secret", *clients["Nightly Report"])
    secrets.add("the person's password", PASSWORD)
    secrets.add("a wrong password", WRONG_PASSWORD)
    return clients


class Calls:
    """HTTP calls of the run, each answer checked, every token collected."""

    def __init__(self, auth: str, api: str, secrets: Secrets) -> None:
        self.auth, self.api, self.secrets = auth, api, secrets
        self.http = httpx.Client(timeout=30)
        self.logged_ids: dict[str, str] = {}

    def request_id(self, label: str, logged_by: str | None) -> dict[str, str]:
        """An X-Request-Id header; the id must show in the log `logged_by` names."""
        value = f"logs-{label}-{uuid.uuid4().hex[:8]}"
        if logged_by is not None:
            self.logged_ids[value] = logged_by
        return {"X-Request-Id": value}

    def token(
        self, expect: int, *, basic: tuple[str, str] | None = None, **form: str
    ) -> dict[str, Any]:
        """POST /oauth/token, which must answer `expect`; the body, its tokens collected."""
        response = self.http.post(
            f"{self.auth}/oauth/token",
            data=form,
            auth=basic or httpx.USE_CLIENT_DEFAULT,
            headers=self.request_id(
                form["grant_type"].rpartition(":")[2], "authserver" if expect != 200 else None
            ),
        )
        assert response.status_code == expect, response.text
        body: dict[str, Any] = response.json()
        for name in ("access_token", "refresh_token", "id_token"):
            if name in body:
                self.secrets.add(f"{name} ({form['grant_type']})", body[name])
        return body

    def machine(self, client: tuple[str, str], audience: str, expect: int, *, basic: bool) -> str:
        """A client-credentials token (client_secret_basic or _post); '' when refused."""
        credentials = {} if basic else {"client_id": client[0], "client_secret": client[1]}
        body = self.token(
            expect,
            basic=client if basic else None,
            grant_type="client_credentials",
            audience=audience,
            **credentials,
        )
        return str(body.get("access_token", ""))

    def api_call(
        self, token: str | None, expect: int, *, query: str = "", label: str = "api"
    ) -> httpx.Response:
        headers = self.request_id(label, "api" if expect != 200 else None)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.http.get(f"{self.api}/timesheets{query}", headers=headers)
        assert response.status_code == expect, response.text
        return response


async def browser_flow(
    auth: str, spa: str, partner: str, secrets: Secrets
) -> dict[str, tuple[str, str, str]]:
    """A refused authorization request, failed sign-ins, a sign-in, a consent, a sign-out:
    each client's code, verifier and redirect URI."""
    codes: dict[str, tuple[str, str, str]] = {}
    async with httpx.AsyncClient(base_url=auth, timeout=30) as browser:
        verifier, challenge = pkce_pair()
        query = authorize_query(spa, REDIRECT, challenge)
        bad = await browser.get("/authorize?" + urlencode(query | {"redirect_uri": REPORTS}))
        assert bad.status_code == 400, bad.text
        page = await browser.get("/authorize?" + urlencode(query))
        fields = hidden_fields(page)
        secrets.add("CSRF form token", fields["csrf"])
        secrets.add("CSRF cookie", browser.cookies["ts_csrf"])
        # A wrong password, then the password typed into the email field.
        for email, password in ((EMAIL, WRONG_PASSWORD), (PASSWORD, PASSWORD)):
            wrong = await browser.post(
                "/login", data=fields | {"email": email, "password": password}
            )
            assert wrong.status_code == 401, wrong.text

        signed_in = await authorize_and_login(browser, query, EMAIL, PASSWORD)
        secrets.add("session cookie", browser.cookies["ts_session"])
        codes["spa"] = (signed_in.params["code"], verifier, REDIRECT)

        verifier, challenge = pkce_pair()
        query = authorize_query(partner, PARTNER_REDIRECT, challenge)
        consent = await browser.get("/authorize?" + urlencode(query))
        assert consent.status_code == 200, consent.text
        assert 'name="decision"' in consent.text, "the partner was not asked for consent"
        allowed = await browser.post(
            "/consent", data=hidden_fields(consent) | {"decision": "allow"}
        )
        assert allowed.status_code == 303, allowed.text
        answer = dict(parse_qsl(urlsplit(allowed.headers["location"]).query))
        codes["partner"] = (answer["code"], verifier, PARTNER_REDIRECT)

        # Without an id_token_hint the person confirms; then the session has ended.
        confirm = await browser.get("/logout")
        assert confirm.status_code == 200, confirm.text
        csrf = CSRF.search(confirm.text)
        assert csrf is not None, confirm.text
        signed_out = await browser.post(
            "/logout/confirm", data={"csrf": csrf.group(1), "decision": "sign_out"}
        )
        assert signed_out.status_code == 200, signed_out.text
        again = await browser.get("/authorize?" + urlencode(query))
        assert 'name="password"' in again.text, "the session outlived the sign-out"
    for code, verifier, _redirect in codes.values():
        secrets.add("authorization code", code)
        secrets.add("code verifier", verifier)
    return codes


def authorize_query(client_id: str, redirect_uri: str, challenge: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid profile email offline_access read:timesheets",
        "audience": AUDIENCE,
        "state": uuid.uuid4().hex,
        "nonce": uuid.uuid4().hex,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


def hidden_fields(page: httpx.Response) -> dict[str, str]:
    """The hidden fields of a login or consent page."""
    csrf, authorize = CSRF.search(page.text), AUTHORIZE.search(page.text)
    assert csrf is not None, page.text
    assert authorize is not None, page.text
    return {"csrf": csrf.group(1), "authorize": html.unescape(authorize.group(1))}


async def expired_token(data_dir: Path, like: str, secrets: Secrets) -> str:
    """`like`, expired an hour ago, signed with the server's own current key."""
    runtime = create_runtime(
        auth_settings(
            data_dir,
            key_encryption_key=key_file(data_dir).read_text().strip(),
            database_url=f"sqlite+aiosqlite:///{data_dir / 'authserver.db'}",
        )
    )
    try:
        signer = (await runtime.keyring()).signer("RS256")
    finally:
        await runtime.engine.dispose()
    assert signer is not None
    der = private_key_bytes(signer.key)
    secrets.add("the signing key (DER, base64url)", base64.urlsafe_b64encode(der).decode())
    pem = signer.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    secrets.add("the signing key (PEM)", "".join(pem.splitlines()[1:-1]))
    claims = jwt.decode(like, options={"verify_signature": False})
    now = int(time.time())
    claims |= {"iat": now - 7200, "exp": now - 3600, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, signer.key, signer.alg, headers=access_token_header(signer.kid))


def exercise(
    calls: Calls, clients: dict[str, tuple[str, str]], data_dir: Path, secrets: Secrets
) -> None:
    """Every kind of token request, the browser's flow, and the API with good and bad
    tokens."""
    # Client credentials: post and Basic, the old secrets within and past their overlap.
    job = calls.machine(clients["Import Job"], AUDIENCE, 200, basic=False)
    calls.machine(clients["Import Job (old)"], AUDIENCE, 200, basic=False)
    wrong = secrets.add("a wrong client secret", "W" * 43)
    calls.machine((clients["Import Job"][0], wrong), AUDIENCE, 401, basic=False)
    calls.machine(clients["Payroll"], AUDIENCE, 200, basic=True)
    calls.machine(clients["Payroll (old)"], AUDIENCE, 401, basic=True)
    calls.machine((clients["Payroll"][0], wrong), AUDIENCE, 401, basic=True)
    calls.machine(clients["Payroll"], AUDIENCE, 401, basic=False)  # registered for Basic
    reports = calls.machine(clients["Nightly Report"], REPORTS, 200, basic=True)
    in_query = calls.http.post(
        f"{calls.auth}/oauth/token?" + urlencode({"client_secret": clients["Payroll"][1]}),
        data={"grant_type": "client_credentials", "audience": AUDIENCE},
        auth=clients["Payroll"],
    )
    assert in_query.status_code == 400, in_query.text

    # People: sign in, consent, redeem; then refresh, introspect, UserInfo and revoke with
    # one grant, and refresh reuse and code replay (each revokes its grant) with the other.
    spa, partner = clients["Timesheets SPA"][0], clients["Partner"][0]
    codes = asyncio.run(browser_flow(calls.auth, spa, partner, secrets))
    tokens = {
        name: calls.token(
            200,
            grant_type="authorization_code",
            code=code,
            redirect_uri=redirect,
            client_id=client_id,
            code_verifier=verifier,
        )
        for name, client_id in (("spa", spa), ("partner", partner))
        for code, verifier, redirect in [codes[name]]
    }
    person = str(tokens["spa"]["access_token"])
    rotated = calls.token(
        200, grant_type="refresh_token", refresh_token=tokens["spa"]["refresh_token"], client_id=spa
    )
    for token in (person, rotated["refresh_token"], reports):
        introspected = calls.http.post(
            f"{calls.auth}/oauth/introspect",
            data={"token": token},
            auth=clients["Payroll"],
            headers=calls.request_id("introspect", None),
        )
        assert introspected.status_code == 200, introspected.text
    info = calls.http.get(f"{calls.auth}/userinfo", headers={"Authorization": f"Bearer {person}"})
    assert info.status_code == 200, info.text
    assert calls.http.post(f"{calls.auth}/userinfo", data={"access_token": person}).is_success
    in_url = calls.http.get(f"{calls.auth}/userinfo?" + urlencode({"access_token": person}))
    assert in_url.status_code == 401, in_url.text
    garbled = secrets.add("a garbled access token", person[:-6] + "AAAAAA")
    broken = calls.http.get(
        f"{calls.auth}/userinfo", headers={"Authorization": f"Bearer {garbled}"}
    )
    assert broken.status_code == 401, broken.text
    revoked = calls.http.post(
        f"{calls.auth}/oauth/revoke",
        data={"token": rotated["refresh_token"], "client_id": spa},
        headers=calls.request_id("revoke", "authserver"),
    )
    assert revoked.status_code == 200, revoked.text
    dead = calls.token(
        400, grant_type="refresh_token", refresh_token=rotated["refresh_token"], client_id=spa
    )
    assert dead["error"] == "invalid_grant"

    first = tokens["partner"]["refresh_token"]
    calls.token(200, grant_type="refresh_token", refresh_token=first, client_id=partner)
    reused = calls.token(400, grant_type="refresh_token", refresh_token=first, client_id=partner)
    assert reused["error"] == "invalid_grant"
    code, verifier, redirect = codes["partner"]
    replayed = calls.token(
        400,
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect,
        client_id=partner,
        code_verifier=verifier,
    )
    assert replayed["error"] == "invalid_grant"

    # The API: good tokens, then an expired, a garbled and a wrong-audience one, and a
    # token where it must not be sent.
    created = calls.http.post(
        f"{calls.api}/timesheets",
        json=SEED_ENTRY,
        headers={"Authorization": f"Bearer {job}"},
    )
    assert created.status_code == 201, created.text
    calls.api_call(person, 200)
    expired = secrets.add(
        "an expired access token", asyncio.run(expired_token(data_dir, person, secrets))
    )
    calls.api_call(expired, 401, label="expired")
    calls.api_call(garbled, 401, label="garbled")
    calls.api_call(reports, 401, label="audience")
    calls.api_call(None, 401, query="?" + urlencode({"access_token": person}), label="query")
    calls.api_call(person, 400, query="?" + urlencode({"access_token": person}), label="both")
    in_body = calls.http.post(
        f"{calls.api}/timesheets",
        content=urlencode({"access_token": person}),
        headers={
            "Authorization": f"Bearer {person}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert in_body.status_code == 400, in_body.text


def run_import(
    platform: ImportPlatform, client: tuple[str, str], name: str, expect: int
) -> list[Log]:
    """`timesheets import` of a small export, as cron runs it, which must exit `expect`;
    its standard error and output, written to files, as logs."""
    root = platform.data_dir.parent
    source = write_generic(
        root / "export.csv", 6, prefix="logs", first_day=date(2026, 3, 2), people=2
    )
    run = platform.run_import(source, root / f"{name}-state", client=client)
    assert run.returncode == expect, run.stderr[-3000:]
    logs = [Log(f"{name} stderr", root / f"{name}.err", True)]
    logs.append(Log(f"{name} stdout", root / f"{name}.out", False))
    logs[0].path.write_text(run.stderr)
    logs[1].path.write_text(run.stdout)
    return logs


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The whole run; the servers are stopped (their last lines written) before it is
    read."""
    root = tmp_path_factory.mktemp("logs")
    data_dir = root / "data"
    secrets = Secrets()
    # The key-encryption key in the data directory, as `timesheets up` keeps it.
    secrets.add("the key-encryption key", ensure_key_file(data_dir))
    env = command_env(root / "pycache", COLUMNS="200", TIMESHEETS_AUTH_CLIENT_CACHE_SECONDS="0")
    # The person's password and a client secret reach the admin commands as operators
    # give them: in the environment (they are never flags).
    admin_env = env | {"TIMESHEETS_USER_PASSWORD": PASSWORD, "NIGHTLY_SECRET": NIGHTLY_SECRET}
    tenant = Tenant(data_dir, admin_env, root / "admin.err")
    clients = configure_tenant(tenant, secrets)

    auth_port, api_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{auth_port}"
    common = ["--data-dir", str(data_dir), "--issuer", issuer]
    auth = Server(
        ["authserver", *common, "--port", str(auth_port), "--workers", "2"],
        env,
        root / "authserver.log",
        auth_port,
    )
    api = Server(
        ["api", *common, "--port", str(api_port), "--audience", AUDIENCE],
        env,
        root / "api.log",
        api_port,
    )
    calls = Calls(auth.url, api.url, secrets)
    try:
        auth.start()
        api.start()
        platform = ImportPlatform(data_dir, env, auth, api, clients["Import Job"], ("", ""))
        import_logs = run_import(platform, clients["Import Job"], "import", 0)
        state = root / "import-state"
        cached = json.loads((state / "token.json").read_text())["access_token"]
        secrets.add("the import job's cached access token", cached)
        wrong = (clients["Import Job"][0], secrets.add("a wrong client secret", "V" * 43))
        import_logs += run_import(platform, wrong, "refused import", 77)
        exercise(calls, clients, data_dir, secrets)
    finally:
        calls.http.close()
        api.stop()
        auth.stop()
    return Run(
        [
            Log("authserver", auth.log, True),
            Log("api", api.log, True),
            *import_logs,
            Log("admin stderr", tenant.output, False),
        ],
        secrets,
        calls.logged_ids,
    )


def numbered(logs: Iterable[Log]) -> Iterator[tuple[Log, int, str]]:
    for log in logs:
        for number, line in enumerate(log.lines(), 1):
            yield log, number, line


def test_no_log_line_holds_a_secret_or_a_token(run: Run) -> None:
    finder = LeakFinder(run.secrets.labels)
    lines = list(numbered(run.logs))
    leaks = [
        f"{log.name}:{number}: {', '.join(found)}: {line[:300]}"
        for log, number, line in lines
        if (found := finder.find(line))
    ]
    print(f"{len(lines)} log lines searched for {len(run.secrets.labels)} secrets")
    assert len(lines) > 50, "the run logged too little to be a test"
    assert len(run.secrets.labels) > 30
    assert leaks == [], "secrets in the logs:\n" + "\n".join(leaks)


def test_a_secret_put_into_a_real_log_line_is_found(run: Run) -> None:
    finder = LeakFinder(run.secrets.labels)
    line = next(line for _log, _n, line in numbered(run.logs[:1]) if '"request_id"' in line)
    for value, label in run.secrets.labels.items():
        entry = json.loads(line) | {"leaked": value[: WINDOW + 1]}
        assert label in finder.find(json.dumps(entry)), label


def test_every_log_line_is_json_and_a_request_carries_its_id(run: Run) -> None:
    by_log: dict[str, list[dict[str, Any]]] = {}
    for log, number, line in numbered(run.logs):
        if not log.json_lines:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"{log.name}:{number} is not JSON: {line[:300]}")
        assert isinstance(entry, dict), f"{log.name}:{number}"
        assert {"time", "level", "logger", "message"} <= entry.keys(), f"{log.name}:{number}"
        if entry["logger"] in REQUEST_LOGGERS:
            assert entry.get("request_id"), f"{log.name}:{number} has no request id: {line}"
        by_log.setdefault(log.name, []).append(entry)
    # Each request the run sent with its own X-Request-Id and that a service logs (a
    # refusal, a revocation) is logged under that id.
    for request_id, service in run.logged_ids.items():
        ids = {entry.get("request_id") for entry in by_log[service]}
        assert request_id in ids, f"no {service} line carries the request id {request_id}"
    assert len(run.logged_ids) >= 10
