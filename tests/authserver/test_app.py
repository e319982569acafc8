"""The authorization server's outer layer on the running service: ids, metrics, readiness."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.authserver.conftest import AUDIENCE, OTHER_KEK, AuthServer, Tenant
from timesheets.authserver.app import WrongKeyEncryptionKey, create_app, create_runtime, prepare


async def test_the_authorization_server_counts_token_requests(auth_server: AuthServer) -> None:
    refused = await auth_server.http.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert refused.status_code in (400, 401)
    assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["x-request-id"])
    text = (await auth_server.http.get("/metrics")).text
    assert re.search(
        r'timesheets_http_requests_total\{method="POST",route="/oauth/token",'
        rf'service="authserver",status="{refused.status_code}"\}} [1-9]',
        text,
    )


async def test_readyz_is_200_with_the_database_and_a_signing_key(auth_server: AuthServer) -> None:
    ready = await auth_server.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "keys": "ok"}}


async def test_metrics_count_tokens_by_grant_and_client_and_failures_by_reason(
    auth_server: AuthServer,
) -> None:
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    form = {"grant_type": "client_credentials", "audience": AUDIENCE}
    issued = await auth_server.http.post(
        "/oauth/token",
        data=form | {"client_id": client.client_id, "client_secret": client.secret},
    )
    assert issued.status_code == 200
    wrong = await auth_server.http.post(
        "/oauth/token",
        data=form | {"client_id": client.client_id, "client_secret": "x" * 43},
    )
    assert wrong.status_code == 401
    text = (await auth_server.http.get("/metrics")).text
    assert re.search(
        rf'timesheets_tokens_issued_total\{{client_id="{re.escape(client.client_id)}",'
        r'grant_type="client_credentials"\} [1-9]',
        text,
    )
    assert re.search(
        r'timesheets_client_authentication_failures_total\{reason="wrong_secret"\} [1-9]', text
    )


async def test_a_start_with_another_key_encryption_key_is_refused_and_makes_nothing(
    tenant: Tenant,
) -> None:
    # An ES256 API without keys yet: a start that went on would make keys for it.
    await tenant.create_api(signing_alg="ES256")
    before = await tenant.row_counts()
    settings = tenant.runtime.settings.model_copy(update={"key_encryption_key": OTHER_KEK})
    runtime = create_runtime(settings)
    try:
        with pytest.raises(WrongKeyEncryptionKey, match="TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY"):
            await prepare(runtime)
    finally:
        await runtime.engine.dispose()
    assert await tenant.row_counts() == before


async def test_a_process_with_another_key_encryption_key_is_not_ready_but_publishes_the_jwks(
    tenant: Tenant,
) -> None:
    settings = tenant.runtime.settings.model_copy(update={"key_encryption_key": OTHER_KEK})
    app = create_app(settings, prepare_on_start=False)
    right = create_app(tenant.runtime.settings, prepare_on_start=False)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as http,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=right), base_url="http://a") as ok,
    ):
        ready = await http.get("/readyz")
        published = await http.get("/.well-known/jwks.json")
        expected = await ok.get("/.well-known/jwks.json")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "keys": "failing"}
    assert published.status_code == 200
    assert published.json() == expected.json()
    assert len(published.json()["keys"]) == 2
