"""Key rotation while machine clients get tokens and write entries: no valid token fails.

The authorization server publishes the next key before it signs with it and keeps the
previous one published; the API refetches the JWKS when it meets an unknown kid. So
across a rotation under load every token issued verifies at the API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import httpx

from tests.authserver.conftest import AUDIENCE, AuthServer
from tests.live import serve_in_thread
from timesheets.api.app import create_app
from timesheets.authserver.keyring import rotate_keys
from timesheets.settings import ApiSettings

ENTRY = {"user_type": "Employee", "year": 2026, "week": 12, "project": "Rotation", "hours": 1}


def kid_of(token: str) -> str:
    header = token.split(".", 1)[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


async def test_zero_refusals_across_a_key_rotation_under_load(
    auth_server: AuthServer, make_api_settings: Callable[..., ApiSettings], tmp_path: Path
) -> None:
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["create:timesheets"]})
    issuer = SimpleNamespace(url=auth_server.url, audience=AUDIENCE)
    settings = make_api_settings(
        issuer, f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", jwks_refetch_seconds=1
    )
    api = serve_in_thread(create_app(settings), settings.port)
    statuses: Counter[str] = Counter()
    kids: Counter[str] = Counter()
    rotated_at: float | None = None
    new_key_signed = asyncio.Event()
    stop_at = time.monotonic() + 60
    try:
        async with httpx.AsyncClient(timeout=30) as http:

            async def worker(number: int) -> None:
                n = 0
                while time.monotonic() < stop_at:
                    token_response = await http.post(
                        f"{auth_server.url}/oauth/token",
                        data={
                            "grant_type": "client_credentials",
                            "audience": AUDIENCE,
                            "client_id": client.client_id,
                            "client_secret": client.secret,
                        },
                    )
                    statuses[f"token {token_response.status_code}"] += 1
                    if token_response.status_code != 200:
                        continue
                    token = token_response.json()["access_token"]
                    kids[kid_of(token)] += 1
                    if len(kids) > 1:
                        new_key_signed.set()
                    created = await http.post(
                        f"{api.url}/timesheets",
                        json=ENTRY | {"user_id": f"w{number}-{n}"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    statuses[f"create {created.status_code}"] += 1
                    n += 1

            async def rotate_then_watch() -> None:
                nonlocal rotated_at, stop_at
                await asyncio.sleep(1.0)
                runtime = auth_server.tenant.runtime
                publish_for = await runtime.longest_token_lifetime()
                await auth_server.tenant.run(
                    lambda session: rotate_keys(
                        session, runtime.sealer, "RS256", runtime.now(), publish_for
                    )
                )
                rotated_at = time.monotonic()
                # The server picks the new key up within its key cache time (5 s); keep
                # the load on until tokens signed by it have been used for a while.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(new_key_signed.wait(), 30)
                stop_at = time.monotonic() + 2.0

            await asyncio.gather(rotate_then_watch(), *[worker(n) for n in range(6)])
    finally:
        api.stop()
    assert rotated_at is not None
    assert len(kids) == 2, f"the new key never signed: {kids}"
    assert set(statuses) == {"token 200", "create 201"}, statuses
    assert statuses["create 201"] == statuses["token 200"]
