"""The API's outer layer on the running service: request ids, metrics, readiness and CORS."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from tests import issuer as test_issuer
from tests.api.conftest import Api
from tests.api.routers.test_upload import item
from tests.api.seed import SEED
from tests.bearer.conftest import FakeClock, forge
from tests.live import serve_in_thread
from timesheets.api import repository
from timesheets.api.app import create_app
from timesheets.api.create_lane import CreateLane
from timesheets.bearer.jwks import JwksCache
from timesheets.settings import ApiSettings


async def test_every_answer_carries_a_request_id(api: Api) -> None:
    own = await api.http.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", own.headers["x-request-id"])
    echoed = await api.http.get("/healthz", headers={"X-Request-Id": "import-run1-3"})
    assert echoed.headers["x-request-id"] == "import-run1-3"
    refused = await api.http.get("/timesheets", headers={"X-Request-Id": "import-run1-4"})
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == "import-run1-4"


def _transactions(metrics: str) -> float:
    """The writer's transactions so far, from a `/metrics` text."""
    found = re.search(r"^timesheets_api_writes_per_transaction_count (\S+)$", metrics, re.M)
    assert found is not None
    return float(found.group(1))


async def test_metrics_count_requests_by_route_template_not_by_path(api: Api) -> None:
    transactions = _transactions((await api.http.get("/metrics")).text)
    created = await api.http.post("/timesheets", json=SEED, headers=api.auth())
    entry_id = created.json()["id"]
    read = await api.http.get(f"/timesheets/{entry_id}", headers=api.auth())
    assert read.status_code == 200
    await api.http.get("/timesheets/no-such-entry", headers=api.auth())
    metrics = await api.http.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert entry_id not in text
    assert "no-such-entry" not in text
    assert re.search(
        r'timesheets_http_requests_total\{method="GET",route="/timesheets/\{entry_id\}",'
        r'service="api",status="200"\} [1-9]',
        text,
    )
    assert re.search(
        r'timesheets_http_requests_total\{method="POST",route="/timesheets",'
        r'service="api",status="201"\} [1-9]',
        text,
    )
    assert 'timesheets_http_request_duration_seconds_bucket{le="0.001",route="/timesheets"' in text
    assert re.search(r'timesheets_jwks_refreshes_total\{outcome="fetched"\} [1-9]', text)
    assert _transactions(text) == transactions + 1  # the create's


async def test_readyz_is_200_when_the_database_and_keys_are_there(api: Api) -> None:
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "keys": "ok"}}
    assert ready.headers["cache-control"] == "no-store"


async def test_readyz_is_503_while_the_issuer_cannot_give_keys(
    issuer: test_issuer.TestIssuer, database_url: str, make_api_settings: Callable[..., ApiSettings]
) -> None:
    # The API starts before its issuer is reachable: it is alive but not ready, and says
    # when to ask again; once the issuer answers, it becomes ready.
    issuer.stop()
    settings = make_api_settings(issuer, database_url, jwks_refetch_seconds=0)
    live = serve_in_thread(create_app(settings), settings.port)
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
            assert (await http.get("/healthz")).status_code == 200
            waiting = await http.get("/readyz")
            assert waiting.status_code == 503
            assert waiting.headers["retry-after"] == "5"
            assert waiting.json() == {
                "status": "not ready",
                "checks": {"database": "ok", "keys": "failing"},
            }
            port = int(issuer.url.rsplit(":", 1)[1])
            issuer.live = serve_in_thread(issuer.app(), port)  # back, at the same address
            assert (await http.get("/readyz")).status_code == 200
    finally:
        live.stop()
        issuer.stop()


async def test_while_a_failing_issuer_gives_no_keys_requests_get_503_without_asking_it(
    issuer: test_issuer.TestIssuer,
    database_url: str,
    make_api_settings: Callable[..., ApiSettings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # With no keys yet and the issuer failing, the API asks it once per
    # TIMESHEETS_API_JWKS_REFETCH_SECONDS, whatever tokens arrive: the
    # other requests get the outage's 503 at once, each logged. The cache runs on a fake
    # clock, so the shipped 10 s cooldown is exact.
    issuer.failing = True
    settings = make_api_settings(issuer, database_url)
    app = create_app(settings)
    assert isinstance(app, CreateLane)
    cache = app.api.state.verifier.keys.jwks
    assert isinstance(cache, JwksCache)
    clock = cache.clock = FakeClock()
    live = serve_in_thread(app, settings.port)
    caplog.set_level(logging.WARNING, logger="timesheets")
    forged = [
        forge({"alg": "RS256", "typ": "at+jwt", "kid": f"forged-{i}"}, issuer.claims())
        for i in range(30)
    ]
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
            reads = [http.get("/timesheets", headers=_bearer(token)) for token in forged[:20]]
            refused = list(await asyncio.gather(*reads))
            for token in forged[20:]:
                refused.append(await http.post("/timesheets", json=SEED, headers=_bearer(token)))
            for answer in refused:
                assert answer.status_code == 503
                # The issuer is asked again in the cooldown's 10 s (the clock is frozen).
                assert answer.headers["retry-after"] == "10"
                assert answer.json() == {
                    "message": "Token verification temporarily unavailable: the issuer's keys "
                    "cannot be fetched; retry"
                }
            assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 0)
            lines = [r for r in caplog.records if r.getMessage() == "dependency unavailable"]
            assert len(lines) == 30
            assert all("keys are not available" in r.reason for r in lines)
            assert "next fetch in 10.0 s" in lines[-1].reason

            issuer.failing = False
            clock.advance(settings.jwks_refetch_seconds)
            read = await http.get("/timesheets", headers=_bearer(issuer.token()))
            assert read.status_code == 200, read.text
            assert (issuer.discovery_fetches, issuer.jwks_fetches) == (2, 1)
    finally:
        live.stop()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _import_rows(text: str) -> dict[str, float]:
    return {
        outcome: float(value)
        for outcome, value in re.findall(
            r'^timesheets_import_rows_total\{outcome="(\w+)"\} (\S+)$', text, re.MULTILINE
        )
    }


async def test_metrics_count_uploaded_rows_by_outcome(api: Api) -> None:
    before = _import_rows((await api.http.get("/metrics")).text)
    items = [item("m1"), item("m2", project="Q"), item("m3", hours=25)]
    first = await api.http.post("/timesheets/upload", json=items, headers=api.auth())
    assert (first.json()["created"], first.json()["rejected"]) == (2, 1)
    again = await api.http.post("/timesheets/upload", json=items[:2], headers=api.auth())
    assert again.json()["exists"] == 2
    after = _import_rows((await api.http.get("/metrics")).text)
    deltas = {k: after.get(k, 0) - before.get(k, 0) for k in ("created", "exists", "rejected")}
    assert deltas == {"created": 2, "exists": 2, "rejected": 1}


WEB_ORIGIN = "https://timesheets.abc.example"


@pytest.fixture
async def cors_api(
    issuer: test_issuer.TestIssuer, tmp_path: Path, make_api_settings: Callable[..., ApiSettings]
) -> AsyncIterator[httpx.AsyncClient]:
    """The API configured for one web app's origin, and a client to it."""
    settings = make_api_settings(
        issuer, f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", cors_origins=[WEB_ORIGIN]
    )
    live = serve_in_thread(create_app(settings), settings.port)
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        yield http
    live.stop()


def _preflight(origin: str) -> dict[str, str]:
    """The headers of a browser's preflight before a JSON create with a token."""
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }


async def test_the_web_apps_origin_may_call_the_api_and_read_its_answers(
    cors_api: httpx.AsyncClient, issuer: test_issuer.TestIssuer
) -> None:
    preflight = await cors_api.options("/timesheets", headers=_preflight(WEB_ORIGIN))
    assert preflight.status_code == 200
    assert preflight.headers.get_list("access-control-allow-origin") == [WEB_ORIGIN]
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "idempotency-key"} <= set(allowed.split(", "))

    origin = {"Origin": WEB_ORIGIN}
    auth = origin | {"Authorization": f"Bearer {issuer.token()}"}
    created = await cors_api.post("/timesheets", json=SEED, headers=auth)
    listed = await cors_api.get("/timesheets", headers=auth)
    refused = await cors_api.get("/timesheets", headers=origin)
    assert [created.status_code, listed.status_code, refused.status_code] == [201, 200, 401]
    for answer in (created, listed, refused):
        assert answer.headers.get_list("access-control-allow-origin") == [WEB_ORIGIN]
        assert "Origin" in answer.headers["vary"]
    exposed = listed.headers["access-control-expose-headers"]
    assert {"X-Total-Count", "Location", "WWW-Authenticate"} <= set(exposed.split(", "))


@pytest.mark.parametrize(
    "origin",
    [
        "https://elsewhere.example",
        "http://timesheets.abc.example",
        "https://timesheets.abc.example:8443",
        "null",
    ],
)
async def test_any_other_origin_is_given_no_cors_headers(
    cors_api: httpx.AsyncClient, issuer: test_issuer.TestIssuer, origin: str
) -> None:
    # The preflight is refused; the answers are served (the token decides), but with no
    # allowed origin named the browser withholds them from the page.
    preflight = await cors_api.options("/timesheets", headers=_preflight(origin))
    auth = {"Origin": origin, "Authorization": f"Bearer {issuer.token()}"}
    created = await cors_api.post("/timesheets", json=SEED, headers=auth)
    listed = await cors_api.get("/timesheets", headers=auth)
    assert [preflight.status_code, created.status_code, listed.status_code] == [400, 201, 200]
    for answer in (preflight, created, listed):
        assert "access-control-allow-origin" not in answer.headers
        assert "access-control-allow-credentials" not in answer.headers


@pytest.mark.parametrize("failure", [OperationalError("SELECT", {}, Exception("gone")), OSError()])
async def test_a_database_gone_under_a_read_is_a_503_to_retry_not_a_500(
    api: Api, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    def lost(*_args: object) -> None:
        raise failure

    monkeypatch.setattr(repository, "get_entry", lost)
    entry = "/timesheets/0123456789abcdef0123456789abcdef"
    answer = await api.http.get(entry, headers=_bearer(api.issuer.token()))
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    assert answer.json() == {"message": "Storage temporarily unavailable; retry"}
