"""The command line's own checks, before anything is served."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import TEST_KEK
from timesheets.authserver.app import create_runtime, prepare
from timesheets.cli import app
from timesheets.settings import AuthServerSettings, sqlite_url


@pytest.mark.parametrize(
    "command",
    [
        ["api", "--issuer", "http://127.0.0.1:9", "--audience", "https://api.timesheets.test"],
        ["authserver"],
    ],
)
def test_an_unknown_cpu_affinity_is_refused_naming_the_choices(
    tmp_path: Path, command: list[str]
) -> None:
    result = CliRunner().invoke(
        app, [*command, "--data-dir", str(tmp_path), "--cpu-affinity", "sometimes"], env={}
    )
    assert result.exit_code == 2
    assert "Input should be 'auto' or 'off'" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("command", "variable"),
    [
        (
            ["api", "--issuer", "http://127.0.0.1:9", "--audience", "https://api.timesheets.test"],
            "TIMESHEETS_API_SQLITE_SYNCHRONOUS",
        ),
        (["authserver"], "TIMESHEETS_AUTH_SQLITE_SYNCHRONOUS"),
    ],
)
@pytest.mark.parametrize("level", ["FUL", "on", "true", "4", ""])
def test_an_unknown_sqlite_synchronous_level_is_refused_naming_the_levels(
    tmp_path: Path, command: list[str], variable: str, level: str
) -> None:
    """SQLite itself would read these as NORMAL, giving up power-cut durability."""
    result = CliRunner().invoke(app, [*command, "--data-dir", str(tmp_path)], env={variable: level})
    assert result.exit_code == 2
    assert "Input should be 'OFF', 'NORMAL', 'FULL' or 'EXTRA'" in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_authorization_server_refuses_to_start_with_another_key_encryption_key(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path / "auth.db")
    settings = AuthServerSettings(data_dir=tmp_path, database_url=url, key_encryption_key=TEST_KEK)

    async def first_start() -> None:
        runtime = create_runtime(settings)
        await prepare(runtime)
        await runtime.engine.dispose()

    asyncio.run(first_start())
    other = "not-the-key-these-were-sealed-with-0123"
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        result = CliRunner().invoke(
            app,
            ["authserver", "--data-dir", str(tmp_path), "--database-url", url],
            env={"TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY": other},
        )
    finally:
        root.handlers[:], root.level = handlers, level
    assert result.exit_code == 1, result.output
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    refusals = [entry["message"] for entry in logged if entry["level"] == "error"]
    # The key that does not open, then the refusal naming the setting.
    assert refusals == [
        "signing key does not open",
        "not started: the stored signing keys or API secrets do not open with"
        " TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY: it is not the key they were sealed with",
    ], result.stderr
    assert other not in result.output
    assert "Traceback" not in result.output
