"""Uploading batches to the real API (and real authorization server) on loopback: results per
item, one fresh token after a 401, retries that honour Retry-After, and when to give up."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.authserver.conftest import AUDIENCE
from tests.importer.conftest import Platform
from tests.live import LiveServer, serve_in_thread
from tests.pg import free_port
from timesheets.importer.config import ImportConfig
from timesheets.importer.errors import ConfigurationError, NotAuthorized, TemporaryFailure
from timesheets.importer.token_cache import TokenProvider
from timesheets.importer.uploader import Uploader, _retry_after


def item(
    external_id: str, day: str = "2026-03-02", hours: float = 2, **extra: Any
) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "user_id": "c-017",
        "user_type": "Contractor",
        "date": day,
        "project": "StoreZero",
        "hours": hours,
    } | extra


@dataclass
class ScriptedApi:
    """A loopback API that answers each upload from a script, then forwards to `target`."""

    target: str | None
    script: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    live: LiveServer | None = None

    def app(self) -> Starlette:
        async def upload(request: Request) -> Response:
            self.arrivals.append(time.monotonic())
            self.tokens.append(request.headers.get("authorization", ""))
            body = await request.body()
            if self.script:
                status, headers, answer = self.script.pop(0)
                return Response(json.dumps(answer), status, headers, media_type="application/json")
            assert self.target is not None, "the script ran out"
            async with httpx.AsyncClient(timeout=30) as client:
                forwarded = await client.post(
                    f"{self.target}/timesheets/upload",
                    content=body,
                    headers={
                        "authorization": request.headers["authorization"],
                        "content-type": "application/json",
                    },
                )
            return Response(forwarded.content, forwarded.status_code, media_type="application/json")

        return Starlette(routes=[Route("/timesheets/upload", upload, methods=["POST"])])

    @property
    def url(self) -> str:
        assert self.live is not None
        return self.live.url


@pytest.fixture
def scripted() -> Iterator[list[ScriptedApi]]:
    """Start ScriptedApi servers with `start(api)`; all are stopped at the end."""
    started: list[ScriptedApi] = []
    yield started
    for api in started:
        if api.live is not None:
            api.live.stop()


def start(registry: list[ScriptedApi], api: ScriptedApi) -> ScriptedApi:
    api.live = serve_in_thread(api.app())
    registry.append(api)
    return api


def uploader_for(
    config: ImportConfig,
    http: httpx.Client,
    cache: Path,
    api_url: str | None = None,
    **options: Any,
) -> tuple[Uploader, TokenProvider]:
    tokens = TokenProvider(config, http, cache)
    return Uploader(api_url or config.api_url, http, tokens, **options), tokens


async def test_each_item_is_created_once_and_a_repeat_answers_exists(
    platform: Platform, tmp_path: Path
) -> None:
    batch = [item("t:1"), item("t:2", day="2026-12-31"), item("t:3", day="2027-01-03", hours=2.25)]
    with httpx.Client(timeout=30) as http:
        uploader, tokens = uploader_for(platform.config(), http, tmp_path / "token.json")
        first = await asyncio.to_thread(uploader.upload, batch)
        again = await asyncio.to_thread(uploader.upload, batch)
    assert [r["status"] for r in first] == ["created"] * 3
    assert [r["status"] for r in again] == ["exists"] * 3
    assert [r["id"] for r in again] == [r["id"] for r in first]
    assert tokens.requests == 1  # the cached token served the second batch
    assert await platform.entry_count() == 3
    weeks = {
        row["external_id"]: (row["iso_year"], row["iso_week"]) for row in await platform.stored()
    }
    assert weeks == {"t:1": (2026, 10), "t:2": (2026, 53), "t:3": (2026, 53)}


async def test_items_the_api_refuses_come_back_rejected_with_reasons(
    platform: Platform, tmp_path: Path
) -> None:
    batch = [item("t:ok"), item("t:long", hours=25), item("t:bad-day", day="2026-02-30")]
    with httpx.Client(timeout=30) as http:
        uploader, _tokens = uploader_for(platform.config(), http, tmp_path / "token.json")
        results = await asyncio.to_thread(uploader.upload, batch)
    assert [r["status"] for r in results] == ["created", "rejected", "rejected"]
    assert results[1]["errors"][0]["field"] == "hours"
    assert await platform.entry_count() == 1


async def test_a_401_with_a_stale_cached_token_fetches_exactly_one_fresh_token(
    platform: Platform, tmp_path: Path
) -> None:
    config = platform.config()
    cache = tmp_path / "token.json"
    cache.write_text(
        json.dumps(
            {
                "issuer": config.issuer,
                "audience": config.audience,
                "client_id": config.client_id,
                "access_token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdGFsZSJ9.c2lnbmF0dXJl",
                "expires_at": time.time() + 3600,
            }
        )
    )
    with httpx.Client(timeout=30) as http:
        uploader, tokens = uploader_for(config, http, cache)
        results = await asyncio.to_thread(uploader.upload, [item("t:1")])
        results += await asyncio.to_thread(uploader.upload, [item("t:2")])
    assert [r["status"] for r in results] == ["created", "created"]
    assert tokens.requests == 1
    assert json.loads(cache.read_text())["access_token"].count(".") == 2
    assert "stale" not in cache.read_text()


async def test_a_second_401_is_a_refusal_not_a_loop(
    platform: Platform, tmp_path: Path, scripted: list[ScriptedApi]
) -> None:
    refusal = (401, {"www-authenticate": 'Bearer error="invalid_token"'}, {"error": "no"})
    api = start(scripted, ScriptedApi(platform.api_url, [refusal, refusal, refusal]))
    with httpx.Client(timeout=30) as http:
        uploader, tokens = uploader_for(platform.config(), http, tmp_path / "t.json", api.url)
        with pytest.raises(NotAuthorized) as caught:
            await asyncio.to_thread(uploader.upload, [item("t:1")])
    assert caught.value.exit_code == 77
    assert len(api.arrivals) == 2
    assert tokens.requests == 2  # the first token, then exactly one fresh one
    assert api.tokens[0] != api.tokens[1]


async def test_503_twice_honours_retry_after_then_succeeds(
    platform: Platform, tmp_path: Path, scripted: list[ScriptedApi]
) -> None:
    busy = (503, {"retry-after": "1"}, {"error": "busy"})
    api = start(scripted, ScriptedApi(platform.api_url, [busy, busy]))
    with httpx.Client(timeout=30) as http:
        uploader, _tokens = uploader_for(platform.config(), http, tmp_path / "t.json", api.url)
        results = await asyncio.to_thread(uploader.upload, [item("t:1"), item("t:2")])
    assert [r["status"] for r in results] == ["created", "created"]
    gaps = [b - a for a, b in zip(api.arrivals, api.arrivals[1:], strict=False)]
    assert len(gaps) == 2
    assert all(0.95 <= gap < 5 for gap in gaps), gaps
    assert await platform.entry_count() == 2


async def test_429_honours_retry_after(
    platform: Platform, tmp_path: Path, scripted: list[ScriptedApi]
) -> None:
    api = start(scripted, ScriptedApi(platform.api_url, [(429, {"retry-after": "2"}, {})]))
    with httpx.Client(timeout=30) as http:
        uploader, _tokens = uploader_for(platform.config(), http, tmp_path / "t.json", api.url)
        results = await asyncio.to_thread(uploader.upload, [item("t:1")])
    assert results[0]["status"] == "created"
    assert 1.95 <= api.arrivals[1] - api.arrivals[0] < 6


async def test_a_batch_over_the_body_limit_goes_again_in_halves(
    platform: Platform, tmp_path: Path, scripted: list[ScriptedApi]
) -> None:
    # A proxy in front of the API refuses the first body as too large (413): the job
    # sends the batch again as two halves, which pass, and every entry is stored once.
    api = start(scripted, ScriptedApi(platform.api_url, [(413, {}, {"message": "too large"})]))
    batch = [item(f"t:{n}", day=f"2026-03-0{n}") for n in range(1, 5)]
    with httpx.Client(timeout=30) as http:
        uploader, _tokens = uploader_for(platform.config(), http, tmp_path / "t.json", api.url)
        results = await asyncio.to_thread(uploader.upload, batch)
    assert [(r["external_id"], r["status"]) for r in results] == [
        (f"t:{n}", "created") for n in range(1, 5)
    ]
    assert len(api.arrivals) == 3  # the whole batch, then each half
    assert await platform.entry_count() == 4


async def test_a_lost_answer_is_retried_and_the_item_comes_back_as_exists(
    platform: Platform, tmp_path: Path, scripted: list[ScriptedApi]
) -> None:
    # The API stored the batch but the answer was lost (a 502 from a proxy, say):
    # the retry is answered "exists", and nothing is stored twice.
    with httpx.Client(timeout=30) as http:
        direct, _tokens = uploader_for(platform.config(), http, tmp_path / "t.json")
        await asyncio.to_thread(direct.upload, [item("t:1")])
        api = start(scripted, ScriptedApi(platform.api_url, [(502, {}, {})]))
        via_proxy, _ = uploader_for(
            platform.config(), http, tmp_path / "t.json", api.url, max_wait=0.2
        )
        results = await asyncio.to_thread(via_proxy.upload, [item("t:1"), item("t:2")])
    assert [r["status"] for r in results] == ["exists", "created"]
    assert await platform.entry_count() == 2


async def test_a_token_without_batch_upload_is_not_authorized(
    platform: Platform, tmp_path: Path
) -> None:
    creator = await platform.auth.tenant.machine_client(
        {AUDIENCE: ["create:timesheets"]}, name="Creator only"
    )
    config = platform.config(client_id=creator.client_id, client_secret=creator.secret)
    with httpx.Client(timeout=30) as http:
        uploader, _tokens = uploader_for(config, http, tmp_path / "t.json")
        with pytest.raises(NotAuthorized, match="batch:upload") as caught:
            await asyncio.to_thread(uploader.upload, [item("t:1")])
    assert caught.value.exit_code == 77
    assert await platform.entry_count() == 0


# Without the platform: failures that never reach a real API. The token comes from a
# pre-filled cache, so no authorization server is needed.

OFFLINE = ImportConfig(
    issuer="http://127.0.0.1:1",
    audience=AUDIENCE,
    api_url="http://127.0.0.1:1",
    client_id="job",
    client_secret="offline-secret",
)


def cached_token(path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "issuer": OFFLINE.issuer,
                "audience": OFFLINE.audience,
                "client_id": OFFLINE.client_id,
                "access_token": "cached-token",
                "expires_at": time.time() + 3600,
            }
        )
    )
    return path


def test_always_503_gives_up_after_the_attempts_with_a_temporary_failure(
    tmp_path: Path, scripted: list[ScriptedApi]
) -> None:
    busy = (503, {"retry-after": "0"}, {})
    api = start(scripted, ScriptedApi(None, [busy] * 10))
    with httpx.Client(timeout=10) as http:
        uploader, _ = uploader_for(
            OFFLINE, http, cached_token(tmp_path / "t.json"), api.url, attempts=3
        )
        with pytest.raises(TemporaryFailure, match="HTTP 503") as caught:
            uploader.upload([item("t:1")])
    assert caught.value.exit_code == 75
    assert len(api.arrivals) == 3


def test_5xx_without_retry_after_backs_off_and_retries(
    tmp_path: Path, scripted: list[ScriptedApi]
) -> None:
    ok = (200, {}, {"created": 1, "exists": 0, "rejected": 0, "items": [{"status": "created"}]})
    api = start(scripted, ScriptedApi(None, [(500, {}, {}), (504, {}, {}), ok]))
    with httpx.Client(timeout=10) as http:
        uploader, _ = uploader_for(
            OFFLINE, http, cached_token(tmp_path / "t.json"), api.url, max_wait=0.2
        )
        assert uploader.upload([item("t:1")]) == [{"status": "created"}]
    assert len(api.arrivals) == 3


def test_an_unreachable_api_is_a_temporary_failure(tmp_path: Path) -> None:
    with httpx.Client(timeout=5) as http:
        uploader, _ = uploader_for(
            OFFLINE,
            http,
            cached_token(tmp_path / "t.json"),
            f"http://127.0.0.1:{free_port()}",
            attempts=2,
            max_wait=0.1,
        )
        with pytest.raises(TemporaryFailure, match="connection failed"):
            uploader.upload([item("t:1")])


def test_other_4xx_end_the_run_as_a_configuration_error(
    tmp_path: Path, scripted: list[ScriptedApi]
) -> None:
    api = start(scripted, ScriptedApi(None, [(400, {}, {"message": "Invalid JSON body"})]))
    with httpx.Client(timeout=10) as http:
        uploader, _ = uploader_for(OFFLINE, http, cached_token(tmp_path / "t.json"), api.url)
        with pytest.raises(ConfigurationError, match="HTTP 400") as caught:
            uploader.upload([item("t:1"), item("t:2")])
    assert caught.value.exit_code == 78
    assert len(api.arrivals) == 1  # not retried


def test_a_single_entry_over_the_body_limit_ends_the_run_as_a_configuration_error(
    tmp_path: Path, scripted: list[ScriptedApi]
) -> None:
    api = start(scripted, ScriptedApi(None, [(413, {}, {"message": "too large"})]))
    with httpx.Client(timeout=10) as http:
        uploader, _ = uploader_for(OFFLINE, http, cached_token(tmp_path / "t.json"), api.url)
        with pytest.raises(ConfigurationError, match="refused an entry: HTTP 413") as caught:
            uploader.upload([item("t:1")])
    assert caught.value.exit_code == 78
    assert len(api.arrivals) == 1  # nothing smaller to send


def test_an_answer_that_does_not_match_the_batch_is_a_temporary_failure(
    tmp_path: Path, scripted: list[ScriptedApi]
) -> None:
    api = start(scripted, ScriptedApi(None, [(200, {}, {"items": [{"status": "created"}]})]))
    with httpx.Client(timeout=10) as http:
        uploader, _ = uploader_for(OFFLINE, http, cached_token(tmp_path / "t.json"), api.url)
        with pytest.raises(TemporaryFailure, match="not the expected JSON"):
            uploader.upload([item("t:1"), item("t:2")])


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>proxy</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, content=b'{"items": [', headers={"content-type": "application/json"}),
        httpx.Response(200, json={"items": ["created"]}),
    ],
)
def test_an_answer_that_is_not_the_expected_json_is_a_temporary_failure(
    tmp_path: Path, answer: httpx.Response
) -> None:
    transport = httpx.MockTransport(lambda _request: answer)
    with httpx.Client(transport=transport) as http:
        uploader, _ = uploader_for(OFFLINE, http, cached_token(tmp_path / "t.json"))
        with pytest.raises(TemporaryFailure) as caught:
            uploader.upload([item("t:1")])
    assert caught.value.exit_code == 75
    assert str(caught.value) == (
        "http://127.0.0.1:1/timesheets/upload answered 200 "
        "with a body that is not the expected JSON"
    )


def test_a_403_is_not_authorized_and_not_retried(
    tmp_path: Path, scripted: list[ScriptedApi]
) -> None:
    api = start(scripted, ScriptedApi(None, [(403, {}, {"error": "insufficient_scope"})] * 3))
    with httpx.Client(timeout=10) as http:
        uploader, _ = uploader_for(OFFLINE, http, cached_token(tmp_path / "t.json"), api.url)
        with pytest.raises(NotAuthorized):
            uploader.upload([item("t:1")])
    assert len(api.arrivals) == 1


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(b"7", 7.0), (b"600", 120.0), ("²".encode("latin-1"), None), (b"soon", None)],
)
def test_retry_after_is_read_only_from_ascii_digits(value: bytes, seconds: float | None) -> None:
    response = httpx.Response(503, headers=[(b"retry-after", value)])
    assert _retry_after(response) == seconds


def granted_after_caching(accepted: set[str]) -> tuple[httpx.MockTransport, list[str]]:
    """An issuer handing out `new-token`, and an API that answers 403 insufficient_scope to
    any token not in `accepted`; lists the tokens the issuer gave."""
    issued: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            endpoint = f"{OFFLINE.issuer}/token"
            return httpx.Response(200, json={"issuer": OFFLINE.issuer, "token_endpoint": endpoint})
        if request.url.path == "/token":
            issued.append("new-token")
            return httpx.Response(
                200, json={"access_token": "new-token", "token_type": "Bearer", "expires_in": 3600}
            )
        if request.headers["authorization"].removeprefix("Bearer ") in accepted:
            return httpx.Response(200, json={"items": [{"status": "created", "id": "1"}]})
        challenge = 'Bearer realm="timesheets", error="insufficient_scope", scope="batch:upload"'
        return httpx.Response(403, headers={"www-authenticate": challenge})

    return httpx.MockTransport(handle), issued


def test_a_403_insufficient_scope_gets_one_new_token_granted_since(tmp_path: Path) -> None:
    transport, issued = granted_after_caching({"new-token"})
    with httpx.Client(transport=transport) as http:
        uploader, _ = uploader_for(OFFLINE, http, cached_token(tmp_path / "t.json"))
        assert uploader.upload([item("t:1")]) == [{"status": "created", "id": "1"}]
    assert issued == ["new-token"]
    assert json.loads((tmp_path / "t.json").read_text())["access_token"] == "new-token"


def test_a_403_insufficient_scope_for_the_new_token_too_is_not_authorized(
    tmp_path: Path,
) -> None:
    transport, issued = granted_after_caching(set())
    with httpx.Client(transport=transport) as http:
        uploader, _ = uploader_for(OFFLINE, http, cached_token(tmp_path / "t.json"))
        with pytest.raises(NotAuthorized, match="lacks the batch:upload scope") as caught:
            uploader.upload([item("t:1")])
    assert caught.value.exit_code == 77
    assert issued == ["new-token"]
