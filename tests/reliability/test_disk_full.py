"""The API's SQLite database on a disk that fills up under writes.

Each refused write answers 503 with `Retry-After` and is logged; reads keep working;
once space is back writes succeed; afterwards SQLite's integrity check passes and every
acknowledged entry is there. The disk is a small tmpfs mounted by the test, which needs
root (CI runs as root); elsewhere the test skips. A read-only database cannot be made
here while the service holds it open: a remount read-only is refused for a busy file
system, and file modes do not bind root; the same 503 path serves both failures.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.issuer import TestIssuer
from tests.live import serve_in_thread
from timesheets.api.app import create_app
from timesheets.settings import ApiSettings

NOTE = "x" * 1900


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root")
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def remount(mountpoint: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mountpoint)], check=True)


def batch(prefix: str, count: int) -> list[dict[str, object]]:
    return [
        {
            "external_id": f"{prefix}-{n}",
            "user_id": f"{prefix}-u{n}",
            "user_type": "Employee",
            "date": "2026-03-02",
            "project": "Disk",
            "hours": 1,
            "description": NOTE,
        }
        for n in range(count)
    ]


def check_database(path: Path) -> tuple[str, set[str]]:
    database = sqlite3.connect(path)
    try:
        integrity = str(database.execute("PRAGMA integrity_check").fetchone()[0])
        ids = {str(row[0]) for row in database.execute("SELECT id FROM entries")}
    finally:
        database.close()
    return integrity, ids


async def test_a_full_disk_gives_503s_and_writes_resume_when_space_is_back(
    issuer: TestIssuer,
    make_api_settings: Callable[..., ApiSettings],
    small_disk: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = small_disk / "api.db"
    settings = make_api_settings(issuer, f"sqlite+aiosqlite:///{database}")
    live = serve_in_thread(create_app(settings), settings.port)
    token = issuer.token(issuer.claims(scope="batch:upload read:timesheets"))
    headers = {"Authorization": f"Bearer {token}"}
    acknowledged: set[str] = set()
    refused: httpx.Response | None = None
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
            with caplog.at_level(logging.ERROR, logger="timesheets.api.writer"):
                for round_ in range(60):
                    response = await http.post(
                        "/timesheets/upload", json=batch(f"full{round_}", 40), headers=headers
                    )
                    if response.status_code != 200:
                        refused = response
                        break
                    acknowledged |= {item["id"] for item in response.json()["items"]}
            assert refused is not None, "the disk never filled"
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["retry-after"]) > 0
            assert any("commit failed" in r.getMessage() for r in caplog.records)
            assert (await http.get("/timesheets", headers=headers)).status_code == 200

            remount(small_disk, "size=32m")
            resumed = await http.post(
                "/timesheets/upload", json=batch("after", 40), headers=headers
            )
            assert resumed.status_code == 200, resumed.text
            acknowledged |= {item["id"] for item in resumed.json()["items"]}
    finally:
        live.stop()
    integrity, stored = check_database(database)
    assert integrity == "ok"
    assert acknowledged <= stored
