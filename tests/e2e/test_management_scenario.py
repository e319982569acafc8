"""The original scenario's "Auth0 Configuration" section done through the management API
by a machine client, then the import job run against what it configured.

Real processes: `timesheets authserver` and `timesheets api` as subprocesses, the tenant's
first automation client made with `timesheets admin` (as `timesheets up` makes one into
bootstrap.json), every later step over HTTP at /api/v2/, and `timesheets import` as cron
runs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_import_e2e import (
    KEK,
    PEOPLE,
    Platform,
    Server,
    admin,
    command_env,
    printed,
)
from tests.importer import FIXTURES
from tests.pg import free_port
from timesheets.authserver.admin import MANAGEMENT_SCOPES
from timesheets.bootstrap import SCOPES

pytestmark = pytest.mark.timeout(600)

IDENTIFIER = "https://api.exampleco.com/timesheets"


class Management:
    """A machine client calling the management API."""

    def __init__(self, issuer: str, client_id: str, secret: str) -> None:
        self.audience = f"{issuer}/api/v2/"
        answer = httpx.post(
            f"{issuer}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "audience": self.audience,
            },
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        self.http = httpx.Client(
            base_url=f"{issuer}/api/v2/",
            headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
            timeout=30,
        )

    def __call__(self, method: str, path: str, status: int, **options: Any) -> Any:
        answer = self.http.request(method, path, **options)
        assert answer.status_code == status, f"{method} {path}: {answer.text}"
        return answer.json() if answer.content else None


@pytest.fixture(scope="module")
def services(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, str], Server, str]]:
    """An authorization server with one automation client granted every management scope."""
    root = tmp_path_factory.mktemp("management-e2e")
    data_dir = root / "data"
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = command_env(
        root / "pycache", TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY=KEK, TIMESHEETS_AUTH_ISSUER=issuer
    )
    created = admin(data_dir, env, "client", "create", "--name", "Automation", "--type", "machine")
    client_id, secret = printed("client_id", created), printed("client_secret", created)
    admin(data_dir, env, "grant", "add", "Automation", f"{issuer}/api/v2/", *MANAGEMENT_SCOPES)
    server = Server(
        ["authserver", "--data-dir", str(data_dir), "--port", str(port), "--issuer", issuer],
        env,
        root / "authserver.log",
        port,
    )
    try:
        server.start()
        yield data_dir, env | {"AUTOMATION": f"{client_id} {secret}"}, server, issuer
    finally:
        server.stop()


def test_the_configuration_section_through_the_api_then_the_import_job(
    services: tuple[Path, dict[str, str], Server, str], tmp_path: Path
) -> None:
    data_dir, env, authserver, issuer = services
    client_id, secret = env.pop("AUTOMATION").split()
    manage = Management(issuer, client_id, secret)

    # Configure the API: name, identifier, RS256; its scopes; the test client comes with it.
    api = manage(
        "POST",
        "resource-servers",
        201,
        json={
            "name": "Timesheets API",
            "identifier": IDENTIFIER,
            "signing_alg": "RS256",
            "scopes": [{"value": v, "description": d} for v, d in SCOPES.items()],
            "create_test_client": True,
        },
    )
    assert sorted(s["value"] for s in api["scopes"]) == sorted(SCOPES)
    test_client = api["test_client"]

    # Create the Client: rename the test client; it is a machine (non-interactive) client.
    job = manage(
        "PATCH", f"clients/{test_client['client_id']}", 200, json={"name": "Timesheets import Job"}
    )
    assert job["app_type"] == "machine"
    assert job["grant_types"] == ["client_credentials"]

    # Configure Client's access to the API: authorized, with only the scopes the job needs.
    [grant] = manage(
        "GET", "client-grants", 200, params={"client_id": job["client_id"], "audience": IDENTIFIER}
    )
    assert grant["scope"] == sorted(SCOPES)
    narrowed = manage(
        "PATCH",
        f"client-grants/{grant['id']}",
        200,
        json={"scope": ["batch:upload", "create:timesheets"]},
    )
    assert narrowed["scope"] == ["batch:upload", "create:timesheets"]

    # A second machine client, for reading back what the job stored.
    reader = manage("POST", "clients", 201, json={"name": "Report Reader", "app_type": "machine"})
    manage(
        "POST",
        "client-grants",
        201,
        json={
            "client_id": reader["client_id"],
            "audience": IDENTIFIER,
            "scope": ["read:timesheets"],
        },
    )

    changes = manage("GET", "logs", 200, params={"actor": f"client:{client_id}"})
    assert [e["kind"] for e in changes if e["kind"] != "token.issued"] == [
        "grant.saved",
        "client.created",
        "grant.saved",
        "client.updated",
        "grant.saved",
        "client.created",
        "api.created",
    ]

    api_port = free_port()
    api_server = Server(
        [
            *("api", "--data-dir", str(data_dir), "--port", str(api_port)),
            *("--issuer", issuer, "--audience", IDENTIFIER),
        ],
        env,
        tmp_path / "api.log",
        api_port,
    )
    try:
        api_server.start()
        platform = Platform(
            data_dir,
            env,
            authserver,
            api_server,
            (job["client_id"], test_client["client_secret"]),
            (reader["client_id"], reader["client_secret"]),
            secrets=[test_client["client_secret"], reader["client_secret"], secret],
            audience=IDENTIFIER,
        )
        run = platform.run_import(
            FIXTURES / "clockify_eu.csv",
            tmp_path / "state",
            *("--format", "clockify", "--mapping", str(PEOPLE)),
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert (run.summary["created"], run.summary["rejected"]) == (4, 0)
        assert platform.total() == 4

        # The job's token holds exactly the scopes the grant now gives.
        token = httpx.post(
            f"{issuer}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": job["client_id"],
                "client_secret": test_client["client_secret"],
                "audience": IDENTIFIER,
            },
            timeout=30,
        ).json()
        assert sorted(token["scope"].split()) == ["batch:upload", "create:timesheets"]
    finally:
        api_server.stop()
