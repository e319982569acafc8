"""Fixtures for fault tests: the API's fixtures, and a PostgreSQL server of the test's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import issuer, make_api_settings  # noqa: F401
from tests.authserver.conftest import auth_server  # noqa: F401
from tests.pg import PostgresServer, start_postgres


@pytest.fixture
def own_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL server only this test uses, so it may stop and start it."""
    server = start_postgres()
    if server.workdir is None:
        pytest.skip("an external PostgreSQL server cannot be stopped by the tests")
    yield server
    server.stop()
