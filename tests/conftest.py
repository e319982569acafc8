"""Fixtures shared by the whole suite: databases (SQLite and a real PostgreSQL) and servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pg import PostgresServer, free_port, start_postgres
from timesheets.settings import AuthServerSettings

TEST_KEK = "test-key-encryption-key-0123456789"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run, removed at the end."""
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.new_database()


@pytest.fixture
def make_auth_settings(tmp_path: Path) -> Callable[..., AuthServerSettings]:
    """Settings for an authorization server on a free port; keyword arguments override."""

    def make(database_url: str, **overrides: Any) -> AuthServerSettings:
        port = overrides.pop("port", None) or free_port()
        values: dict[str, Any] = {
            "issuer": f"http://127.0.0.1:{port}",
            "port": port,
            "data_dir": tmp_path,
            "database_url": database_url,
            "key_encryption_key": TEST_KEK,
            "client_cache_seconds": 0,
            "key_cache_seconds": 0,
        }
        values.update(overrides)
        return AuthServerSettings(**values)

    return make
