"""Two authorization-server processes and two API processes on one PostgreSQL.

Nothing that must be shared lives in a process: a code issued by one authorization
server is redeemed once at the other and refused on replay at either; a key rotated
through the database is used by both; a refresh family revoked at one is dead at the
other; failed client authentications count across both; an Idempotency-Key retried at
the other API instance stores one entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from tests.authserver.flows import authorize_and_login, pkce_pair
from tests.conftest import TEST_KEK
from tests.pg import PostgresServer, free_port
from timesheets.authserver import admin, people
from timesheets.authserver.app import create_runtime, prepare
from timesheets.authserver.keyring import rotate_keys
from timesheets.authserver.runtime import Runtime
from timesheets.settings import AuthServerSettings

TIMESHEETS = str(Path(sys.executable).with_name("timesheets"))
AUDIENCE = "https://api.timesheets.local"
REDIRECT = "https://spa.example.com/callback"
PASSWORD = "correct horse battery"
SCOPES = ["read:timesheets", "create:timesheets", "approve:timesheets"]
FAILURE_LIMIT = 4


@dataclass
class Process:
    """A `timesheets` server subprocess in its own process group."""

    popen: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


def start(args: list[str], env: dict[str, str], port: int, log: Path) -> Process:
    """Start a server and wait until it is ready."""
    with log.open("ab") as handle:
        popen = subprocess.Popen(
            [TIMESHEETS, *args, "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process = Process(popen, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            pytest.fail(f"{args[0]} exited:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{process.url}/readyz", timeout=2).status_code == 200:
                return process
        time.sleep(0.2)
    process.stop()
    pytest.fail(f"{args[0]} not ready:\n{log.read_text(errors='replace')}")


#: One client for the tests' own calls (the browser flow has its own, with cookies).
HTTP = httpx.AsyncClient(timeout=30)


@dataclass
class Cluster:
    """The four processes, the tenant's runtime and the SPA client."""

    auth: tuple[Process, Process]
    api: tuple[Process, Process]
    runtime: Runtime
    spa_client: str
    machine: tuple[str, str]


@pytest.fixture
async def cluster(
    pg_server: PostgresServer,
    make_auth_settings: Callable[..., AuthServerSettings],
    tmp_path: Path,
) -> AsyncIterator[Cluster]:
    auth_db, api_db = pg_server.new_database(), pg_server.new_database()
    ports = [free_port() for _ in range(4)]
    issuer = f"http://127.0.0.1:{ports[0]}"
    settings = make_auth_settings(auth_db, port=ports[0])
    runtime = create_runtime(settings)
    await prepare(runtime)
    async with runtime.sessions() as session, session.begin():
        await admin.create_api(
            session,
            runtime.sealer,
            identifier=AUDIENCE,
            name="Timesheets API",
            scopes={scope: scope for scope in SCOPES},
        )
        spa = await admin.create_client(
            session,
            name="SPA",
            app_type="spa",
            redirect_uris=(REDIRECT,),
            web_origins=("https://spa.example.com",),
        )
        await admin.add_grant(session, "SPA", AUDIENCE, SCOPES)
        machine = await admin.create_client(
            session, name="Import Job", app_type="machine", auth_method="client_secret_post"
        )
        await admin.add_grant(session, "Import Job", AUDIENCE, SCOPES)
        await people.create_role(session, "Manager", permissions={AUDIENCE: SCOPES})
        await people.create_user(session, email="erin@abc.example", name="Erin", password=PASSWORD)
        await people.assign_role(session, "erin@abc.example", "Manager")
    assert machine.secret is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMESHEETS_")}
    env |= {
        "PYTHONPYCACHEPREFIX": str(tmp_path / "pycache"),
        "TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY": TEST_KEK,
        "TIMESHEETS_AUTH_CLIENT_CACHE_SECONDS": "0",
        "TIMESHEETS_AUTH_KEY_CACHE_SECONDS": "0",
        "TIMESHEETS_API_JWKS_REFETCH_SECONDS": "0",
        "TIMESHEETS_AUTH_AUTH_FAILURE_LIMIT": str(FAILURE_LIMIT),
    }
    started: list[Process] = []
    try:
        for n in (0, 1):
            started.append(
                start(
                    [
                        "authserver",
                        "--data-dir",
                        str(tmp_path / f"a{n}"),
                        "--issuer",
                        issuer,
                        "--database-url",
                        auth_db,
                    ],
                    env,
                    ports[n],
                    tmp_path / f"auth{n}.log",
                )
            )
        for n in (2, 3):
            started.append(
                start(
                    [
                        "api",
                        "--data-dir",
                        str(tmp_path / f"p{n}"),
                        "--issuer",
                        issuer,
                        "--audience",
                        AUDIENCE,
                        "--database-url",
                        api_db,
                    ],
                    env,
                    ports[n],
                    tmp_path / f"api{n}.log",
                )
            )
        yield Cluster(
            (started[0], started[1]),
            (started[2], started[3]),
            runtime,
            spa.client.client_id,
            (machine.client.client_id, machine.secret),
        )
    finally:
        for process in reversed(started):
            process.stop()
        await runtime.engine.dispose()


async def code_at(cluster: Cluster, http: httpx.AsyncClient) -> tuple[str, str]:
    """A code issued by the first authorization server, and its PKCE verifier."""
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": cluster.spa_client,
        "redirect_uri": REDIRECT,
        "scope": "openid offline_access read:timesheets",
        "audience": AUDIENCE,
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    result = await authorize_and_login(http, query, "erin@abc.example", PASSWORD)
    return result.params["code"], verifier


async def redeem(url: str, cluster: Cluster, code: str, verifier: str) -> httpx.Response:
    return await HTTP.post(
        f"{url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": cluster.spa_client,
            "code_verifier": verifier,
        },
        timeout=30,
    )


async def test_a_code_from_one_instance_is_redeemed_once_at_the_other(cluster: Cluster) -> None:
    one, two = cluster.auth
    async with httpx.AsyncClient(base_url=one.url, timeout=30) as browser:
        code, verifier = await code_at(cluster, browser)
    first = await redeem(two.url, cluster, code, verifier)
    assert first.status_code == 200, first.text
    for url in (one.url, two.url):
        replay = await redeem(url, cluster, code, verifier)
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"
    # The replay revoked the grant: the refresh token is dead at both.
    refresh = await HTTP.post(
        f"{one.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first.json()["refresh_token"],
            "client_id": cluster.spa_client,
        },
        timeout=30,
    )
    assert refresh.json().get("error") == "invalid_grant"


async def test_a_refresh_family_revoked_at_one_is_dead_at_the_other(cluster: Cluster) -> None:
    one, two = cluster.auth
    async with httpx.AsyncClient(base_url=one.url, timeout=30) as browser:
        code, verifier = await code_at(cluster, browser)
    tokens = (await redeem(one.url, cluster, code, verifier)).json()
    rotated = await HTTP.post(
        f"{two.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": cluster.spa_client,
        },
        timeout=30,
    )
    assert rotated.status_code == 200, rotated.text
    revoked = await HTTP.post(
        f"{one.url}/oauth/revoke",
        data={"token": rotated.json()["refresh_token"], "client_id": cluster.spa_client},
        timeout=30,
    )
    assert revoked.status_code == 200
    dead = await HTTP.post(
        f"{two.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": rotated.json()["refresh_token"],
            "client_id": cluster.spa_client,
        },
        timeout=30,
    )
    assert dead.json().get("error") == "invalid_grant"


async def machine_token(url: str, cluster: Cluster, secret: str | None = None) -> httpx.Response:
    client_id, real = cluster.machine
    return await HTTP.post(
        f"{url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "audience": AUDIENCE,
            "client_id": client_id,
            "client_secret": secret or real,
        },
        timeout=30,
    )


async def test_a_rotated_key_signs_at_both_and_both_apis_accept_it(cluster: Cluster) -> None:
    runtime = cluster.runtime
    publish_for = await runtime.longest_token_lifetime()
    async with runtime.sessions() as session, session.begin():
        promoted, _old, _next = await rotate_keys(
            session, runtime.sealer, "RS256", runtime.now(), publish_for
        )
    for auth in cluster.auth:
        token = (await machine_token(auth.url, cluster)).json()["access_token"]
        assert jwt.get_unverified_header(token)["kid"] == promoted
        for api in cluster.api:
            created = await HTTP.get(
                f"{api.url}/timesheets", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            assert created.status_code == 200, created.text


async def test_failed_client_authentications_count_across_both(cluster: Cluster) -> None:
    one, two = cluster.auth
    # Two failures at each instance: alone, neither reaches the limit of four.
    for n in range(FAILURE_LIMIT):
        wrong = await machine_token((one, two)[n % 2].url, cluster, secret="w" * 43)
        assert wrong.status_code == 401
    for auth in cluster.auth:
        locked = await machine_token(auth.url, cluster)
        assert locked.status_code == 429, locked.text
        assert int(locked.headers["retry-after"]) > 0


async def test_an_idempotent_retry_at_the_other_api_stores_one_entry(cluster: Cluster) -> None:
    token = (await machine_token(cluster.auth[0].url, cluster)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "retry-across"}
    body = {
        "user_type": "Employee",
        "user_id": "007",
        "year": 2026,
        "week": 9,
        "project": "StoreZero",
        "hours": 5,
    }
    answers = await asyncio.gather(
        *[
            asyncio.to_thread(
                httpx.post, f"{api.url}/timesheets", json=body, headers=headers, timeout=30
            )
            for api in (*cluster.api, *cluster.api)
        ]
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    listed = await HTTP.get(
        f"{cluster.api[1].url}/timesheets",
        params={"user_id": "007"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert listed.headers["x-total-count"] == "1"
