"""The two services on loopback for schemathesis, built from their OpenAPI documents."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.api.conftest import issuer, make_api_settings  # noqa: F401  (fixtures used here)
from tests.issuer import TestIssuer
from tests.live import LiveServer, serve_in_thread
from timesheets.api.app import create_app as create_api
from timesheets.authserver.app import create_app as create_authserver
from timesheets.settings import ApiSettings, AuthServerSettings

#: Examples per operation: small and fixed in `make test`, larger in `make fuzz`.
EXAMPLES = int(os.environ.get("TIMESHEETS_FUZZ_EXAMPLES", "15"))


@pytest.fixture
def live_api(
    issuer: TestIssuer,  # noqa: F811
    make_api_settings: Callable[..., ApiSettings],  # noqa: F811
    tmp_path: Path,
) -> Iterator[tuple[LiveServer, TestIssuer]]:
    """The API on SQLite, trusting the test issuer."""
    settings = make_api_settings(issuer, f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    live = serve_in_thread(create_api(settings), settings.port)
    yield live, issuer
    live.stop()


@pytest.fixture
def live_authserver(
    make_auth_settings: Callable[..., AuthServerSettings], tmp_path: Path
) -> Iterator[LiveServer]:
    """The authorization server on a fresh SQLite tenant (migrated and keyed on start)."""
    settings = make_auth_settings(f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}")
    live = serve_in_thread(create_authserver(settings), settings.port)
    yield live
    live.stop()
