"""schemathesis against the OpenAPI documents the services serve, on the running servers.

Every generated request, with a valid token and without one, must be answered without a
5xx and as the document says (status codes, content types, headers and body schemas).
Examples are derived deterministically (`derandomize`) and bounded per operation;
`make fuzz` raises the bound. The operations are driven through schemathesis's strategy
API (one Hypothesis run per operation inside each test), so the schema is read from the
live server after the fixtures started it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import EXAMPLES
from tests.issuer import TestIssuer
from tests.live import LiveServer
from timesheets.authserver import admin
from timesheets.authserver.app import create_runtime
from timesheets.settings import AuthServerSettings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ALL_SCOPES = "read:timesheets create:timesheets delete:timesheets approve:timesheets batch:upload"
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
OPEN = ("/healthz", "/readyz", "/openapi.json", "/docs", "/metrics")


def fuzz_every_operation(url: str, check: Callable[[Any], None]) -> list[str]:
    """Run `check` on generated cases of every operation; the labels of those fuzzed."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    calls: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            calls[case.operation.label] += 1
            check(case)

        run()
        assert calls[operation.label] > 0, f"no case was generated for {operation.label}"
    return list(calls)


def test_the_api_with_a_token_holding_every_scope(
    live_api: tuple[LiveServer, TestIssuer],
) -> None:
    live, issuer = live_api
    headers = {"Authorization": f"Bearer {issuer.token(issuer.claims(scope=ALL_SCOPES))}"}
    fuzzed = fuzz_every_operation(
        live.url,
        lambda case: case.call_and_validate(base_url=live.url, headers=headers, checks=CHECKS),
    )
    assert "POST /timesheets" in fuzzed
    assert "PUT /approvals/{entry_id}" in fuzzed


def test_the_api_without_a_token(live_api: tuple[LiveServer, TestIssuer]) -> None:
    live, _issuer = live_api

    def check(case: Any) -> None:
        response = case.call_and_validate(base_url=live.url, checks=CHECKS)
        if case.path not in OPEN:
            assert response.status_code in (400, 401, 404, 405, 413, 415, 422), response.text

    fuzzed = fuzz_every_operation(live.url, check)
    assert "GET /timesheets" in fuzzed


def test_the_authorization_server(live_authserver: LiveServer) -> None:
    url = live_authserver.url
    fuzzed = fuzz_every_operation(
        url, lambda case: case.call_and_validate(base_url=url, checks=CHECKS)
    )
    assert "POST /oauth/token" in fuzzed


def test_the_management_api_with_a_token_holding_every_scope(
    live_authserver: LiveServer,
    make_auth_settings: Callable[..., AuthServerSettings],
    tmp_path: Path,
) -> None:
    url = live_authserver.url
    port = int(url.rsplit(":", 1)[1])
    settings = make_auth_settings(f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}", port=port)

    async def automation_client() -> tuple[str, str]:
        runtime = create_runtime(settings)
        try:
            async with runtime.sessions() as session, session.begin():
                created = await admin.create_client(session, name="Fuzz", app_type="machine")
                await admin.add_grant(
                    session, "Fuzz", f"{url}/api/v2/", sorted(admin.MANAGEMENT_SCOPES)
                )
        finally:
            await runtime.engine.dispose()
        assert created.secret is not None
        return created.client.client_id, created.secret

    client_id, secret = asyncio.run(automation_client())
    issued = httpx.post(
        f"{url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "audience": f"{url}/api/v2/",
        },
        timeout=30,
    )
    headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    fuzzed = fuzz_every_operation(
        url,
        lambda case: case.call_and_validate(base_url=url, headers=headers, checks=CHECKS),
    )
    assert "PATCH /api/v2/clients/{client_id}" in fuzzed
    assert "POST /api/v2/roles/{role_id}/permissions" in fuzzed
