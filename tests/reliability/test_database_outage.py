"""The API while its PostgreSQL server is stopped and started again.

During the outage every call answers 503 with `Retry-After` within seconds (not a 500,
not a hang); soon after the server is back, calls succeed again; every write the API
acknowledged before, during or after the outage is in the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from tests.issuer import TestIssuer
from tests.live import serve_in_thread
from tests.pg import PostgresServer
from timesheets import db
from timesheets.api.app import create_app
from timesheets.settings import ApiSettings

ENTRY = {"user_type": "Employee", "year": 2026, "week": 10, "project": "StoreZero", "hours": 1}


async def stored_ids(database_url: str) -> set[str]:
    engine = db.create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.exec_driver_sql("SELECT id FROM entries")
            return {str(row[0]) for row in rows}
    finally:
        await engine.dispose()


async def test_a_postgresql_restart_gives_503s_then_recovers_and_loses_nothing(
    issuer: TestIssuer,
    own_pg: PostgresServer,
    make_api_settings: Callable[..., ApiSettings],
) -> None:
    database_url = own_pg.new_database()
    settings = make_api_settings(issuer, database_url)
    live = serve_in_thread(create_app(settings), settings.port)
    acknowledged: list[str] = []
    headers = {"Authorization": f"Bearer {issuer.token()}"}
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:

            async def create(n: int) -> httpx.Response:
                response = await http.post(
                    "/timesheets", json=ENTRY | {"user_id": f"p{n}"}, headers=headers
                )
                if response.status_code == 201:
                    acknowledged.append(response.json()["id"])
                return response

            before = await asyncio.gather(*[create(n) for n in range(20)])
            assert {r.status_code for r in before} == {201}

            await asyncio.to_thread(own_pg.restart_stop)
            started = time.monotonic()
            during_write = await create(100)
            during_read = await http.get("/timesheets", headers=headers)
            during_one = await http.get(f"/timesheets/{acknowledged[0]}", headers=headers)
            ready = await http.get("/readyz")
            assert time.monotonic() - started < 15, "the outage answers must not hang"
            for response in (during_write, during_read, during_one):
                assert response.status_code == 503, response.text
                assert int(response.headers["retry-after"]) > 0
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] == "failing"

            await asyncio.to_thread(own_pg.start)
            deadline = time.monotonic() + 20
            recovered = await create(200)
            while recovered.status_code != 201 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                recovered = await create(200)
            assert recovered.status_code == 201, recovered.text
            assert time.monotonic() - started < 60
            after = await asyncio.gather(*[create(n) for n in range(300, 320)])
            assert {r.status_code for r in after} == {201}
            assert (await http.get("/readyz")).status_code == 200
    finally:
        live.stop()
    assert len(acknowledged) == 41
    assert set(acknowledged) <= await stored_ids(database_url)
