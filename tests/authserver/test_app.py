"""The authorization server's outer layer on the running service: ids, metrics, readiness."""

from __future__ import annotations

import re

from tests.authserver.conftest import AUDIENCE, AuthServer


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
