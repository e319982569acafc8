"""The one-layer `POST /timesheets` (`timesheets.api.create_lane`): which requests it
serves, and that its answers are the full stack's, byte for byte but the fresh values."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.types import Message, Receive, Scope, Send

from tests.api.seed import SEED
from tests.issuer import TestIssuer
from tests.live import serve_in_thread
from timesheets.api import create_lane
from timesheets.api.app import create_app
from timesheets.api.create_lane import CreateLane
from timesheets.settings import ApiSettings

T = TypeVar("T")

DAY = {"date": "2026-11-30", "project": "StoreZero", "hours": 7.5, "user_id": "007"}
FRESH = ("id", "created_at", "updated_at")
HEX_ID = re.compile(r"[0-9a-f]{32}")


LIMIT = 4096


Headers = dict[str, str] | list[tuple[str, str]]


def _requests(issuer: TestIssuer) -> list[tuple[str, Headers, bytes | list[bytes], str]]:
    """(path, headers, body, query) of creates, valid and refused on every ground; a body
    in parts is sent chunked, with no declared length."""
    good = issuer.token()
    auth = {"Authorization": f"Bearer {good}", "Content-Type": "application/json"}
    no_scope = issuer.token(issuer.claims(scope="read:timesheets"))
    expired = issuer.token(issuer.claims(exp=1_000_000_000, iat=999_999_000))
    other_audience = issuer.token(issuer.claims(aud="https://elsewhere.test"))
    seed = json.dumps(SEED).encode()
    return [
        ("/timesheets", auth, seed, ""),
        ("/timesheet", auth, json.dumps(SEED | {"week": 24}).encode(), ""),
        ("/timesheets", auth, json.dumps(DAY).encode(), ""),
        ("/timesheets", auth | {"Content-Type": "application/json; charset=utf-8"}, seed, ""),
        ("/timesheets", auth | {"X-Request-Id": "import-run-7.batch:3"}, seed, ""),
        ("/timesheets", auth | {"X-Request-Id": "not a sane id!"}, seed, ""),
        ("/timesheets", auth | {"Idempotency-Key": "k-1"}, seed, ""),
        ("/timesheets", auth | {"Idempotency-Key": "k-1"}, seed, ""),
        ("/timesheets", auth | {"Idempotency-Key": "k-1"}, json.dumps(DAY).encode(), ""),
        ("/timesheets", auth | {"Idempotency-Key": "k" * 201}, seed, ""),
        ("/timesheets", {"Content-Type": "application/json"}, seed, ""),
        ("/timesheets", auth | {"Origin": "https://app.example"}, seed, ""),
        ("/timesheets", auth | {"Origin": "https://elsewhere.example"}, seed, ""),
        ("/timesheets", [*auth.items(), ("Authorization", "Bearer not.a.token")], seed, ""),
        ("/timesheets", [("Authorization", "Bearer x y"), *auth.items()], seed, ""),
        ("/timesheets", [*auth.items(), ("Authorization", f"Bearer {good}")], seed, ""),
        (
            "/timesheets",
            [*auth.items(), ("X-Request-Id", "r-1"), ("X-Request-Id", "r-2")],
            seed,
            "",
        ),
        (
            "/timesheets",
            [*auth.items(), ("X-Request-Id", "r 1"), ("X-Request-Id", "r-2")],
            seed,
            "",
        ),
        ("/timesheets", [*auth.items(), ("Content-Type", "text/plain")], seed, ""),
        ("/timesheets", [("Content-Type", "text/plain"), *auth.items()], seed, ""),
        ("/timesheets", auth | {"Content-Type": "application/x-www-form-urlencoded"}, seed, ""),
        ("/timesheets", auth | {"Authorization": "Basic dXNlcjpwYXNz"}, seed, ""),
        ("/timesheets", auth | {"Authorization": "Bearer a b"}, seed, ""),
        ("/timesheets", auth | {"Authorization": "Bearer not.a.token"}, seed, ""),
        ("/timesheets", auth | {"Authorization": f"Bearer {expired}"}, seed, ""),
        ("/timesheets", auth | {"Authorization": f"Bearer {other_audience}"}, seed, ""),
        ("/timesheets", auth | {"Authorization": f"Bearer {no_scope}"}, seed, ""),
        ("/timesheets", auth, seed, f"access_token={good}"),
        ("/timesheets", {"Content-Type": "application/json"}, seed, f"access_token={good}"),
        ("/timesheets", auth, b"{" + b" " * LIMIT + b"}", ""),
        ("/timesheets", auth, [b"{", b" " * LIMIT, b"}"], ""),
        ("/timesheets", auth, [seed[:9], seed[9:]], ""),
        ("/timesheets", auth, b'{"user_id": "007",', ""),
        ("/timesheets", auth, b'{"hours": 5, "hours": 6}', ""),
        ("/timesheets", auth, b"\xef\xbb\xbf" + seed, ""),
        ("/timesheets", auth, b"\xff\xfe", ""),
        ("/timesheets", auth, b"", ""),
        ("/timesheets", auth, b"[1, 2]", ""),
        ("/timesheets", auth, json.dumps(DAY | {"hours": 25}).encode(), ""),
        ("/timesheets", auth, json.dumps(SEED | {"hours": 0}).encode(), ""),
        ("/timesheets", auth, json.dumps(SEED | {"week": 53}).encode(), ""),
        ("/timesheets", auth, json.dumps({**SEED, "week": None}).encode(), ""),
        ("/timesheets", auth, json.dumps(DAY | {"year": 2026, "week": 1}).encode(), ""),
        ("/timesheets", auth, json.dumps(SEED | {"colour": "red"}).encode(), ""),
        ("/timesheets", auth, json.dumps(SEED | {"hours": 169}).encode(), ""),
    ]


def _content(body: bytes | list[bytes]) -> bytes | AsyncIterator[bytes]:
    if isinstance(body, bytes):
        return body

    async def parts() -> AsyncIterator[bytes]:
        for part in body:
            yield part

    return parts()


def _normal(response: httpx.Response, sent: Headers) -> dict[str, Any]:
    """A response with the values each server makes afresh (ids, times, the date)
    checked for their form and left out."""
    request_ids = httpx.Headers(sent).get_list("x-request-id")
    headers = []
    for name, value in response.headers.multi_items():
        if name == "date":
            continue
        if name == "x-request-id" and value not in request_ids[:1]:
            assert HEX_ID.fullmatch(value)
            continue
        if name == "location":
            assert re.fullmatch(r"/timesheets/[0-9a-f]{32}", value)
            value = "/timesheets/ID"
        headers.append((name, value))
    body: Any = response.content
    if response.headers.get("content-type") == "application/json":
        body = response.json()
        for name in FRESH:
            if isinstance(body, dict) and name in body:
                body[name] = name.upper()
    return {"status": response.status_code, "headers": headers, "body": body}


@pytest.fixture(params=[[], ["https://app.example"]], ids=["no-cors", "cors"])
async def both(
    request: pytest.FixtureRequest,
    issuer: TestIssuer,
    tmp_path: Path,
    make_api_settings: Callable[..., ApiSettings],
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """The API as served (the lane first) and its full stack alone, each on a database
    of its own; without CORS, and with the web app's origin allowed."""
    clients = []
    servers = []
    for name in ("lane", "full"):
        folder = tmp_path / name
        folder.mkdir()
        settings = make_api_settings(
            issuer,
            f"sqlite+aiosqlite:///{folder / 'api.db'}",
            data_dir=folder,
            max_body_bytes=LIMIT,
            cors_origins=request.param,
        )
        app = create_app(settings)
        assert isinstance(app, CreateLane)
        live = serve_in_thread(app if name == "lane" else app.app, settings.port)
        servers.append(live)
        clients.append(httpx.AsyncClient(base_url=live.url, timeout=30))
    yield clients[0], clients[1]
    for client in clients:
        await client.aclose()
    for live in servers:
        live.stop()


def _samples() -> Counter[tuple[str, ...]]:
    """Every request count and latency count the services export, by their labels."""
    found: Counter[tuple[str, ...]] = Counter()
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name in (
                "timesheets_http_requests_total",
                "timesheets_http_request_duration_seconds_count",
            ):
                found[(sample.name, *sorted(sample.labels.items()))] += sample.value  # type: ignore[arg-type]
    return found


async def _counted(read: Callable[[], T], complete: Callable[[T], bool]) -> T:
    """`read()` once `complete` holds of it, or as it is after 5 s. Both paths count a
    request once its answer is sent, so the client may see the answer first."""
    deadline = time.monotonic() + 5
    while True:
        found = read()
        if complete(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.01)


async def _sent(
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    url: str,
    headers: Headers,
    body: bytes | list[bytes],
) -> tuple[httpx.Response, Counter[tuple[str, ...]], list[tuple[str, str, str]]]:
    """A response, the metrics it added, and the log lines written while it ran."""
    before = _samples()
    caplog.clear()
    response = await client.post(url, headers=headers, content=_content(body))

    def added() -> Counter[tuple[str, ...]]:
        after = _samples()
        after.subtract(before)
        return after

    after = await _counted(added, lambda found: sum((+found).values()) >= 2)
    logged = [
        (r.name, r.levelname, r.getMessage())
        for r in caplog.records
        if r.name.startswith("timesheets")
    ]
    return response, +after, logged


async def test_every_answer_of_the_lane_is_the_full_stacks(
    issuer: TestIssuer,
    both: tuple[httpx.AsyncClient, httpx.AsyncClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    lane, full = both
    statuses = []
    logged_any = False
    for path, headers, body, query in _requests(issuer):
        url = f"{path}?{query}" if query else path
        ours, our_metrics, our_logs = await _sent(lane, caplog, url, headers, body)
        theirs, their_metrics, their_logs = await _sent(full, caplog, url, headers, body)
        case = (path, headers, query)
        assert _normal(ours, headers) == _normal(theirs, headers), case
        assert our_metrics == their_metrics, case
        assert sorted(our_metrics.values()) == [1, 1], case
        assert our_logs == their_logs, case
        logged_any = logged_any or bool(our_logs)
        statuses.append(ours.status_code)
    assert logged_any
    assert statuses == [
        *(201, 201, 201, 201, 201, 201, 201, 201, 422, 400, 401),
        *(201, 201, 400, 400, 400, 201, 201, 201, 415, 415),
        *(401, 400, 401, 401, 401, 403, 400, 401),
        *(413, 413, 201),
        *(400, 400, 400, 400, 400),
        *(422, 422, 422, 422, 422, 422, 422, 422),
    ]


async def test_a_sane_request_id_is_echoed_and_another_is_replaced(
    issuer: TestIssuer, both: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    lane, _ = both
    headers = {"Authorization": f"Bearer {issuer.token()}"}
    kept = await lane.post("/timesheets", json=SEED, headers=headers | {"X-Request-Id": "r-1"})
    assert kept.headers["x-request-id"] == "r-1"
    refused = await lane.post("/timesheets", json=SEED, headers={"X-Request-Id": "r 2"})
    assert refused.status_code == 401
    assert HEX_ID.fullmatch(refused.headers["x-request-id"])


def _count(route: str, status: str) -> float:
    labels = {"service": "api", "route": route, "method": "POST", "status": status}
    return REGISTRY.get_sample_value("timesheets_http_requests_total", labels) or 0.0


def _timed(route: str) -> float:
    labels = {"service": "api", "route": route}
    return (
        REGISTRY.get_sample_value("timesheets_http_request_duration_seconds_count", labels) or 0.0
    )


async def test_the_lanes_answers_are_counted_by_route_and_status(
    issuer: TestIssuer, both: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    lane, _ = both
    before = (_count("/timesheet", "201"), _count("/timesheet", "403"), _timed("/timesheet"))
    no_scope = issuer.token(issuer.claims(scope="read:timesheets"))
    created = await lane.post(
        "/timesheet", json=SEED, headers={"Authorization": f"Bearer {issuer.token()}"}
    )
    refused = await lane.post(
        "/timesheet", json=SEED, headers={"Authorization": f"Bearer {no_scope}"}
    )
    assert (created.status_code, refused.status_code) == (201, 403)
    expected = (before[0] + 1, before[1] + 1, before[2] + 2)
    after = await _counted(
        lambda: (_count("/timesheet", "201"), _count("/timesheet", "403"), _timed("/timesheet")),
        lambda found: found == expected,
    )
    assert after == expected


class _Inner:
    """An app standing for the full stack: it records what reached it."""

    def __init__(self) -> None:
        self.seen: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(scope)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": headers,
    }


async def _call(app: Any, scope: Scope, body: bytes = b"{}") -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


JSON = (b"content-type", b"application/json")


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/timesheets", [JSON, (b"origin", b"https://app.example")]),
        ("POST", "/timesheets", [(b"content-type", b"application/x-www-form-urlencoded")]),
        ("POST", "/timesheets", [(b"content-type", b"application/x-ndjson")]),
        ("POST", "/timesheets", []),
        ("POST", "/timesheets/upload", [JSON]),
        ("POST", "/timesheets/", [JSON]),
        ("GET", "/timesheets", [JSON]),
        ("PUT", "/timesheets", [JSON]),
    ],
)
async def test_other_requests_go_to_the_full_stack_untouched(
    method: str, path: str, headers: list[tuple[bytes, bytes]]
) -> None:
    inner = _Inner()
    lane = CreateLane(inner, None, None, "api")  # type: ignore[arg-type]
    scope = _scope(method, path, headers)
    sent = await _call(lane, scope)
    assert inner.seen == [scope]
    assert sent[0]["status"] == 299


async def test_non_http_scopes_go_to_the_full_stack() -> None:
    inner = _Inner()
    lane = CreateLane(inner, None, None, "api")  # type: ignore[arg-type]
    scope = {"type": "lifespan"}
    await _call(lane, scope)
    assert inner.seen == [scope]


async def test_a_json_create_without_origin_is_served_by_the_lane(
    issuer: TestIssuer, make_api_settings: Callable[..., ApiSettings], tmp_path: Path
) -> None:
    settings = make_api_settings(issuer, f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    app = create_app(settings)
    assert isinstance(app, CreateLane)
    inner = _Inner()
    app.app = inner
    sent = await _call(app, _scope("POST", "/timesheets", [JSON, (b"origin", b"x")]))
    assert sent[0]["status"] == 299
    # No token: the lane answers 401 itself, through the app's handler.
    sent = await _call(
        app, _scope("POST", "/timesheets", [(b"content-type", b"Application/JSON ; x=1")])
    )
    assert sent[0]["status"] == 401
    assert len(inner.seen) == 1
    assert (b"www-authenticate", b'Bearer realm="timesheets"') in sent[0]["headers"]


async def test_an_error_no_handler_takes_goes_up_and_counts_as_500(
    issuer: TestIssuer,
    make_api_settings: Callable[..., ApiSettings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(*_args: Any) -> Any:
        raise RuntimeError("a bug")

    settings = make_api_settings(issuer, f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    app = create_app(settings)
    monkeypatch.setattr(create_lane, "created", broken)
    before = _count("/timesheets", "500")
    token = issuer.token().encode()
    scope = _scope("POST", "/timesheets", [JSON, (b"authorization", b"Bearer " + token)])
    with pytest.raises(RuntimeError, match="a bug"):
        await _call(app, scope, json.dumps(SEED).encode())
    assert _count("/timesheets", "500") == before + 1


@pytest.mark.parametrize(
    ("second", "repeated"),
    [((b"x-request-id", b"b"), False), ((b"authorization", b"Bearer second"), True)],
    ids=["request id", "authorization"],
)
async def test_the_first_of_repeated_headers_counts_and_a_second_authorization_is_noted(
    second: tuple[bytes, bytes], repeated: bool
) -> None:
    """As in the full stack the first value counts; a second Authorization header is noted
    in the same pass, for the bearer check to refuse."""
    found = create_lane._first_values(
        [(b"x-request-id", b"a"), (b"accept", b"*/*"), (b"authorization", b"Bearer first"), second]
    )
    assert found == ({b"authorization": b"Bearer first", b"x-request-id": b"a"}, repeated)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"content-type", b"application/json")], [(b"content-type", b"application/json")]),
        ([(b"vary", b"Accept")], [(b"vary", b"Accept, Origin")]),
        (
            [(b"vary", b"Accept"), (b"x", b"1"), (b"vary", b"Cookie")],
            [(b"vary", b"Accept, Cookie, Origin"), (b"x", b"1")],
        ),
    ],
)
def test_vary_gains_origin_where_the_cors_layer_puts_it(
    headers: list[tuple[bytes, bytes]], expected: list[tuple[bytes, bytes]]
) -> None:
    if expected[-1][0] != b"vary" and not any(name == b"vary" for name, _ in headers):
        expected = [*expected, (b"vary", b"Origin")]
    assert create_lane._with_vary_origin(headers) == expected


async def test_with_the_issuer_unreachable_both_answer_503_alike(
    issuer: TestIssuer, both: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    lane, full = both
    headers = {"Authorization": f"Bearer {issuer.token()}"}
    issuer.stop()  # before any request: neither has the keys
    ours = await lane.post("/timesheets", json=SEED, headers=headers)
    theirs = await full.post("/timesheets", json=SEED, headers=headers)
    assert ours.status_code == 503
    assert _normal(ours, headers) == _normal(theirs, headers)
