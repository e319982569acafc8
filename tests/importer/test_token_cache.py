"""The job's access token against the real authorization server: discovery, the client
credentials grant (client_secret_post to the audience), the 0600 cache and its expiry."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import jwt
import pytest

from tests.authserver.conftest import AUDIENCE, AuthServer, MachineClient
from tests.pg import free_port
from timesheets.importer.config import ImportConfig
from timesheets.importer.errors import ConfigurationError, NotAuthorized, TemporaryFailure
from timesheets.importer.token_cache import EXPIRY_MARGIN, TokenProvider, discovery_urls

JOB_SCOPES = ["create:timesheets", "batch:upload"]


class RecordingClient(httpx.Client):
    """An HTTP client that remembers the method and URL of each request it sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        super().__init__(timeout=10, event_hooks={"request": [self._record]})

    def _record(self, request: httpx.Request) -> None:
        self.sent.append(f"{request.method} {request.url}")


@pytest.fixture
def http() -> Iterator[RecordingClient]:
    """A recording HTTP client, closed at the end."""
    with RecordingClient() as client:
        yield client


async def job_client(auth_server: AuthServer, **options: str) -> MachineClient:
    await auth_server.tenant.create_api(AUDIENCE)
    return await auth_server.tenant.machine_client({AUDIENCE: JOB_SCOPES}, **options)


def config_for(auth_server: AuthServer, client: MachineClient, **overrides: str) -> ImportConfig:
    values = {
        "issuer": auth_server.url,
        "audience": AUDIENCE,
        "api_url": "http://127.0.0.1:1",
        "client_id": client.client_id,
        "client_secret": client.secret,
    }
    return ImportConfig(**(values | overrides))  # type: ignore[arg-type]


def claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def test_discovery_tries_openid_then_rfc_8414_paths() -> None:
    assert discovery_urls("https://id.example") == [
        "https://id.example/.well-known/openid-configuration",
        "https://id.example/.well-known/oauth-authorization-server",
    ]
    assert discovery_urls("https://id.example/tenant/") == [
        "https://id.example/tenant/.well-known/openid-configuration",
        "https://id.example/.well-known/oauth-authorization-server/tenant",
    ]


async def test_discovery_finds_the_token_endpoint_and_the_grant_gives_an_audience_token(
    auth_server: AuthServer, http: RecordingClient, tmp_path: Path
) -> None:
    client = await job_client(auth_server)
    provider = TokenProvider(config_for(auth_server, client), http, tmp_path / "token.json")
    token = await asyncio.to_thread(provider.token)
    assert http.sent == [
        f"GET {auth_server.url}/.well-known/openid-configuration",
        f"POST {auth_server.url}/oauth/token",
    ]
    assert provider.requests == 1
    body = claims(token)
    assert body["aud"] == AUDIENCE
    assert body["iss"] == auth_server.url
    assert body["client_id"] == client.client_id
    assert set(str(body["scope"]).split()) == set(JOB_SCOPES)


async def test_the_token_is_cached_privately_and_reused_by_the_next_run(
    auth_server: AuthServer, http: RecordingClient, tmp_path: Path
) -> None:
    client = await job_client(auth_server)
    cache = tmp_path / "state" / "token.json"
    first = TokenProvider(config_for(auth_server, client), http, cache)
    token = await asyncio.to_thread(first.token)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    document = json.loads(cache.read_text())
    assert document["access_token"] == token
    assert document["expires_at"] > time.time() + EXPIRY_MARGIN
    assert client.secret not in cache.read_text()

    with RecordingClient() as other_http:
        second = TokenProvider(config_for(auth_server, client), other_http, cache)
        assert await asyncio.to_thread(second.token) == token
        assert second.requests == 0
        assert other_http.sent == []


async def test_an_expired_cached_token_causes_exactly_one_new_request(
    auth_server: AuthServer, http: RecordingClient, tmp_path: Path
) -> None:
    client = await job_client(auth_server)
    cache = tmp_path / "token.json"
    old = await asyncio.to_thread(TokenProvider(config_for(auth_server, client), http, cache).token)
    document = json.loads(cache.read_text())
    document["expires_at"] = time.time() - 5
    cache.write_text(json.dumps(document))

    provider = TokenProvider(config_for(auth_server, client), http, cache)
    new = await asyncio.to_thread(provider.token)
    assert await asyncio.to_thread(provider.token) == new
    assert provider.requests == 1
    assert claims(new)["jti"] != claims(old)["jti"]
    assert json.loads(cache.read_text())["access_token"] == new


async def test_a_token_about_to_expire_is_not_used(
    auth_server: AuthServer, http: RecordingClient, tmp_path: Path
) -> None:
    client = await job_client(auth_server)
    cache = tmp_path / "token.json"
    await asyncio.to_thread(TokenProvider(config_for(auth_server, client), http, cache).token)
    document = json.loads(cache.read_text())
    document["expires_at"] = time.time() + EXPIRY_MARGIN - 5
    cache.write_text(json.dumps(document))
    provider = TokenProvider(config_for(auth_server, client), http, cache)
    await asyncio.to_thread(provider.token)
    assert provider.requests == 1


async def test_a_token_cached_for_another_audience_is_not_reused(
    auth_server: AuthServer, http: RecordingClient, tmp_path: Path
) -> None:
    client = await job_client(auth_server)
    await auth_server.tenant.create_api("https://other.timesheets.test")
    cache = tmp_path / "token.json"
    await asyncio.to_thread(TokenProvider(config_for(auth_server, client), http, cache).token)
    other = TokenProvider(
        config_for(auth_server, client, audience="https://other.timesheets.test"), http, cache
    )
    with pytest.raises(NotAuthorized):  # no grant for that API: the server is asked, and says no
        await asyncio.to_thread(other.token)
    assert other.requests == 1


async def test_replacing_a_refused_token_asks_again_only_while_it_is_cached(
    auth_server: AuthServer, http: RecordingClient, tmp_path: Path
) -> None:
    client = await job_client(auth_server)
    provider = TokenProvider(config_for(auth_server, client), http, tmp_path / "token.json")
    first = await asyncio.to_thread(provider.token)
    second = await asyncio.to_thread(lambda: provider.token(replacing=first))
    assert provider.requests == 2
    assert claims(first)["jti"] != claims(second)["jti"]
    # Another batch refused with the same first token gets the second one, unasked.
    assert await asyncio.to_thread(lambda: provider.token(replacing=first)) == second
    assert provider.requests == 2


async def test_client_secret_basic_works_too(
    auth_server: AuthServer, http: RecordingClient, tmp_path: Path
) -> None:
    client = await job_client(auth_server, auth_method="client_secret_basic")
    config = config_for(auth_server, client, auth_method="client_secret_basic")
    token = await asyncio.to_thread(TokenProvider(config, http, tmp_path / "t.json").token)
    assert claims(token)["client_id"] == client.client_id


async def test_a_wrong_secret_is_not_authorized_and_not_echoed(
    auth_server: AuthServer, http: RecordingClient, tmp_path: Path
) -> None:
    client = await job_client(auth_server)
    wrong = "wrong-" + client.secret
    provider = TokenProvider(
        config_for(auth_server, client, client_secret=wrong), http, tmp_path / "token.json"
    )
    with pytest.raises(NotAuthorized) as caught:
        await asyncio.to_thread(provider.token)
    assert caught.value.exit_code == 77
    assert "invalid_client" in str(caught.value)
    assert wrong not in str(caught.value)
    assert not (tmp_path / "token.json").exists()


async def test_an_unknown_client_is_not_authorized(
    auth_server: AuthServer, http: RecordingClient, tmp_path: Path
) -> None:
    client = await job_client(auth_server)
    config = config_for(auth_server, client, client_id="no-such-client")
    with pytest.raises(NotAuthorized):
        await asyncio.to_thread(TokenProvider(config, http, tmp_path / "t.json").token)


async def test_an_issuer_that_describes_another_issuer_is_a_configuration_error(
    auth_server: AuthServer, http: RecordingClient, tmp_path: Path
) -> None:
    client = await job_client(auth_server)
    aliased = auth_server.url.replace("127.0.0.1", "localhost")
    provider = TokenProvider(
        config_for(auth_server, client, issuer=aliased), http, tmp_path / "t.json"
    )
    with pytest.raises(ConfigurationError, match="another issuer") as caught:
        await asyncio.to_thread(provider.token)
    assert caught.value.exit_code == 78
    assert provider.requests == 0


def test_an_unreachable_issuer_is_a_temporary_failure(tmp_path: Path) -> None:
    config = ImportConfig(
        issuer=f"http://127.0.0.1:{free_port()}",
        audience=AUDIENCE,
        api_url="http://127.0.0.1:1",
        client_id="job",
        client_secret="secret-secret-secret",
    )
    with httpx.Client(timeout=5) as http:
        provider = TokenProvider(config, http, tmp_path / "token.json")
        with pytest.raises(TemporaryFailure, match="unreachable") as caught:
            provider.token()
    assert caught.value.exit_code == 75
    assert "secret-secret-secret" not in str(caught.value)


def fake_issuer(
    token_answer: httpx.Response | Callable[[], httpx.Response], discovery_status: int = 200
) -> httpx.MockTransport:
    """An issuer whose token endpoint answers `token_answer` (or what it returns)."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            if discovery_status != 200:
                return httpx.Response(discovery_status)
            return httpx.Response(
                200, json={"issuer": "https://id.test", "token_endpoint": "https://id.test/token"}
            )
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx.Response(404)
        return token_answer() if callable(token_answer) else token_answer

    return httpx.MockTransport(handle)


FAKE_CONFIG = ImportConfig(
    issuer="https://id.test",
    audience=AUDIENCE,
    api_url="https://api.test",
    client_id="job",
    client_secret="secret",
)


@pytest.mark.parametrize(
    ("answer", "failure"),
    [
        (httpx.Response(500, text="oops"), TemporaryFailure),
        (httpx.Response(503, json={"error": "temporarily_unavailable"}), TemporaryFailure),
        (httpx.Response(200, json={"token_type": "Bearer"}), TemporaryFailure),  # no token
        (httpx.Response(400, json={"error": "unauthorized_client"}), NotAuthorized),
        (httpx.Response(403, json={"error": "access_denied"}), NotAuthorized),
    ],
)
def test_token_endpoint_answers_map_to_exit_codes(
    tmp_path: Path, answer: httpx.Response, failure: type[Exception]
) -> None:
    with httpx.Client(transport=fake_issuer(answer)) as http, pytest.raises(failure):
        TokenProvider(FAKE_CONFIG, http, tmp_path / "t.json").token()


def test_discovery_answers_map_to_exit_codes(tmp_path: Path) -> None:
    ok = httpx.Response(200, json={"access_token": "x", "token_type": "Bearer", "expires_in": 300})
    with (
        httpx.Client(transport=fake_issuer(ok, discovery_status=502)) as http,
        pytest.raises(TemporaryFailure, match="502"),
    ):
        TokenProvider(FAKE_CONFIG, http, tmp_path / "t.json").token()
    with (
        httpx.Client(transport=fake_issuer(ok, discovery_status=404)) as http,
        pytest.raises(ConfigurationError, match="publishes no discovery document"),
    ):
        TokenProvider(FAKE_CONFIG, http, tmp_path / "t.json").token()


def test_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "token.json"
    cache.write_text("{truncated")
    ok = httpx.Response(
        200, json={"access_token": "fresh", "token_type": "Bearer", "expires_in": 300}
    )
    with httpx.Client(transport=fake_issuer(ok)) as http:
        provider = TokenProvider(FAKE_CONFIG, http, cache)
        assert provider.token() == "fresh"
    assert provider.requests == 1
    assert json.loads(cache.read_text())["access_token"] == "fresh"


@pytest.mark.parametrize(
    "cached",
    [
        {"expires_at": "soon"},
        {"expires_at": None},
        {"expires_at": [1]},
    ],
)
def test_a_cache_with_a_malformed_expiry_is_ignored(
    tmp_path: Path, cached: dict[str, object]
) -> None:
    cache = tmp_path / "token.json"
    key = {"issuer": "https://id.test", "audience": AUDIENCE, "client_id": "job"}
    cache.write_text(json.dumps(key | {"access_token": "old"} | cached))
    ok = httpx.Response(
        200, json={"access_token": "fresh", "token_type": "Bearer", "expires_in": 300}
    )
    with httpx.Client(transport=fake_issuer(ok)) as http:
        assert TokenProvider(FAKE_CONFIG, http, cache).token() == "fresh"


def test_a_cache_that_is_not_an_object_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "token.json"
    cache.write_text("[1, 2]")
    ok = httpx.Response(
        200, json={"access_token": "fresh", "token_type": "Bearer", "expires_in": 300}
    )
    with httpx.Client(transport=fake_issuer(ok)) as http:
        assert TokenProvider(FAKE_CONFIG, http, cache).token() == "fresh"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>app</html>", headers={"content-type": "text/html"}),
        httpx.Response(
            200, content=b'{"access_token":', headers={"content-type": "application/json"}
        ),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(
            200, json={"access_token": "x", "token_type": "Bearer", "expires_in": "soon"}
        ),
        httpx.Response(200, json={"access_token": "x", "token_type": "Bearer", "expires_in": -5}),
        httpx.Response(200, json={"access_token": "x", "token_type": "Bearer", "expires_in": True}),
    ],
)
def test_a_malformed_token_answer_is_a_temporary_failure_naming_the_endpoint(
    tmp_path: Path, answer: httpx.Response
) -> None:
    with httpx.Client(transport=fake_issuer(answer)) as http:
        provider = TokenProvider(FAKE_CONFIG, http, tmp_path / "t.json")
        with pytest.raises(TemporaryFailure) as caught:
            provider.token()
    assert caught.value.exit_code == 75
    assert "https://id.test/token answered 200 with a body that is not the expected JSON" in str(
        caught.value
    )
    assert not (tmp_path / "t.json").exists()


def test_a_lifetime_given_as_a_decimal_string_is_understood(tmp_path: Path) -> None:
    answer = httpx.Response(
        200, json={"access_token": "x", "token_type": "Bearer", "expires_in": "3600.0"}
    )
    with httpx.Client(transport=fake_issuer(answer)) as http:
        assert TokenProvider(FAKE_CONFIG, http, tmp_path / "t.json").token() == "x"
    remaining = json.loads((tmp_path / "t.json").read_text())["expires_at"] - time.time()
    assert 3590 < remaining <= 3600


def test_a_discovery_document_that_is_not_json_is_a_temporary_failure(tmp_path: Path) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>app</html>", headers={"content-type": "text/html"})

    with (
        httpx.Client(transport=httpx.MockTransport(handle)) as http,
        pytest.raises(TemporaryFailure) as caught,
    ):
        TokenProvider(FAKE_CONFIG, http, tmp_path / "t.json").token()
    assert caught.value.exit_code == 75
    assert str(caught.value) == (
        "https://id.test/.well-known/openid-configuration answered 200 "
        "with a body that is not the expected JSON"
    )


def counting_issuer() -> tuple[httpx.MockTransport, list[str]]:
    """An issuer that hands out `token-1`, `token-2`... and lists the tokens it issued."""
    issued: list[str] = []

    def token_answer() -> httpx.Response:
        issued.append(f"token-{len(issued) + 1}")
        return httpx.Response(
            200, json={"access_token": issued[-1], "token_type": "Bearer", "expires_in": 300}
        )

    return fake_issuer(token_answer), issued


def test_batches_refused_with_the_same_token_share_one_new_token(tmp_path: Path) -> None:
    cache = tmp_path / "token.json"
    key = {"issuer": "https://id.test", "audience": AUDIENCE, "client_id": "job"}
    cache.write_text(json.dumps(key | {"access_token": "stale", "expires_at": time.time() + 3500}))
    transport, issued = counting_issuer()
    with httpx.Client(transport=transport) as http, ThreadPoolExecutor(4) as pool:
        provider = TokenProvider(FAKE_CONFIG, http, cache)
        tokens = list(pool.map(lambda _n: provider.token(replacing="stale"), range(4)))
    assert tokens == ["token-1"] * 4
    assert issued == ["token-1"]


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "BEARER"])
def test_a_bearer_token_is_used_whatever_the_case_of_its_type(
    tmp_path: Path, token_type: str
) -> None:
    answer = httpx.Response(200, json={"access_token": "x", "token_type": token_type})
    with httpx.Client(transport=fake_issuer(answer)) as http:
        assert TokenProvider(FAKE_CONFIG, http, tmp_path / "t.json").token() == "x"


def test_a_token_of_another_type_is_not_used(tmp_path: Path) -> None:
    answer = httpx.Response(200, json={"access_token": "x", "token_type": "mac"})
    with (
        httpx.Client(transport=fake_issuer(answer)) as http,
        pytest.raises(ConfigurationError) as caught,
    ):
        TokenProvider(FAKE_CONFIG, http, tmp_path / "t.json").token()
    assert caught.value.exit_code == 78
    assert "https://id.test/token issued a token of type 'mac'" in str(caught.value)
    assert not (tmp_path / "t.json").exists()


def test_a_token_without_a_type_is_a_malformed_answer(tmp_path: Path) -> None:
    answer = httpx.Response(200, json={"access_token": "x", "expires_in": 300})
    with (
        httpx.Client(transport=fake_issuer(answer)) as http,
        pytest.raises(TemporaryFailure, match="no token_type") as caught,
    ):
        TokenProvider(FAKE_CONFIG, http, tmp_path / "t.json").token()
    assert caught.value.exit_code == 75
    assert not (tmp_path / "t.json").exists()


def test_client_secret_basic_form_urlencodes_the_id_and_secret(tmp_path: Path) -> None:
    sent: list[str] = []

    transport = fake_issuer(httpx.Response(200, json={"access_token": "x", "token_type": "Bearer"}))
    config = replace(
        FAKE_CONFIG,
        client_id="job:1",
        client_secret="s+e/c r%t:é",
        auth_method="client_secret_basic",
    )
    with httpx.Client(
        transport=transport,
        event_hooks={"request": [lambda r: sent.append(r.headers.get("authorization", ""))]},
    ) as http:
        TokenProvider(config, http, tmp_path / "t.json").token()
    encoded = base64.b64encode(b"job%3A1:s%2Be%2Fc+r%25t%3A%C3%A9").decode()
    assert sent[-1] == f"Basic {encoded}"
