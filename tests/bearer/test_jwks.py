"""The JWKS cache: discovery (RFC 8414 §3, OpenID Discovery §4), fetching (RFC 7517 §5),
refresh limits (RFC 8725 §3.10: unknown kids cannot drive fetches), key rotation and
issuer outages.

Behaviour against a real loopback issuer uses its fetch counters; error shapes the real
issuer cannot produce use an `httpx.MockTransport`. Time is a fake monotonic clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.bearer.conftest import RSA_KID, TLS, FakeClock, MakeSetup, forge
from tests.issuer import TestIssuer as Issuer
from timesheets.bearer.errors import InvalidToken
from timesheets.bearer.jwks import JwksCache, KeysUnavailable, discovery_urls

ISS = "https://id.example.test"
JWKS_URI = f"{ISS}/keys"
OIDC = f"{ISS}/.well-known/openid-configuration"
RFC8414 = f"{ISS}/.well-known/oauth-authorization-server"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(kid: str) -> dict[str, Any]:
    """A public RSA JWK with this kid."""
    return RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True) | {"kid": kid, "use": "sig"}


class Scripted:
    """An issuer played by an httpx MockTransport; every response can be changed."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.responses: dict[str, Callable[[], httpx.Response]] = {
            OIDC: lambda: httpx.Response(200, json={"issuer": ISS, "jwks_uri": JWKS_URI}),
            JWKS_URI: lambda: httpx.Response(200, json=self.jwks),
        }
        self.jwks: Any = {"keys": [jwk("a")]}

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        respond = self.responses.get(url)
        return respond() if respond else httpx.Response(404)

    def count(self, url: str) -> int:
        """How often `url` was requested."""
        return self.requests.count(url)


@pytest.fixture
def scripted() -> Scripted:
    """A scripted issuer."""
    return Scripted()


@pytest.fixture
async def mock_http(scripted: Scripted) -> Any:
    """An HTTP client whose requests go to the scripted issuer."""
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(scripted.handle), verify=TLS
    ) as client:
        yield client


def scripted_cache(http: httpx.AsyncClient, clock: FakeClock, **options: Any) -> JwksCache:
    """A cache of the scripted issuer on the fake clock."""
    return JwksCache(ISS, http, clock=clock, **options)


# --- discovery -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        (
            "https://id.example",
            [
                "https://id.example/.well-known/openid-configuration",
                "https://id.example/.well-known/oauth-authorization-server",
            ],
        ),
        (
            "https://id.example/tenant/1",
            [
                "https://id.example/tenant/1/.well-known/openid-configuration",
                "https://id.example/.well-known/oauth-authorization-server/tenant/1",
            ],
        ),
        (
            "https://id.example:8443/t/",
            [
                "https://id.example:8443/t/.well-known/openid-configuration",
                "https://id.example:8443/.well-known/oauth-authorization-server/t",
            ],
        ),
    ],
)
def test_discovery_urls(issuer: str, expected: list[str]) -> None:
    """OpenID Discovery §4.1 appends; RFC 8414 §3.1 inserts the well-known segment."""
    assert discovery_urls(issuer) == expected


async def test_first_use_discovers_then_fetches_once(
    issuer: Issuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Discovery once, JWKS once; later lookups are served from the cache."""
    cache = JwksCache(issuer.url, http, clock=clock)
    keys = await cache.candidates(RSA_KID, "RS256")
    assert [key.kid for key in keys] == [RSA_KID]
    for _ in range(20):
        assert await cache.candidates(RSA_KID, "RS256") is keys
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)
    assert cache.jwks_uri == f"{issuer.url}/jwks"
    assert cache.fetches == 1


async def test_concurrent_first_use_fetches_once(issuer: Issuer, http: httpx.AsyncClient) -> None:
    """Concurrent requests on a cold cache share one discovery and one JWKS fetch.

    `JwksCache.refresh` promises "once for concurrent callers"; the real monotonic clock is
    used so the result does not depend on a frozen fake clock.
    """
    cache = JwksCache(issuer.url, http)
    found = await asyncio.gather(*(cache.candidates(RSA_KID, "RS256") for _ in range(50)))
    assert all([key.kid for key in keys] == [RSA_KID] for keys in found)
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)


async def test_configured_jwks_uri_skips_discovery(
    issuer: Issuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A configured jwks_uri is used as is."""
    cache = JwksCache(issuer.url, http, jwks_uri=f"{issuer.url}/jwks", clock=clock)
    assert await cache.candidates(RSA_KID, "RS256") != ()
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (0, 1)


async def test_discovery_naming_another_issuer_is_refused(
    issuer: Issuer, http: httpx.AsyncClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 8414 §3.3: the metadata's issuer MUST be identical to the configured issuer."""
    configured = issuer.url
    issuer.url = "https://evil.example"  # the document now names another issuer
    cache = JwksCache(configured, http, clock=clock)
    with (
        caplog.at_level(logging.WARNING, logger="timesheets.bearer.jwks"),
        pytest.raises(KeysUnavailable, match="another issuer"),
    ):
        await cache.candidates(RSA_KID, "RS256")
    assert issuer.discovery_fetches == 1
    assert issuer.jwks_fetches == 0
    assert any(r.levelno == logging.WARNING for r in caplog.records)


async def test_discovery_issuer_with_trailing_slash_is_another_issuer(
    issuer: Issuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """RFC 8414 §3.3: identical means no normalisation, not even a trailing slash."""
    cache = JwksCache(issuer.url + "/", http, clock=clock)
    with pytest.raises(KeysUnavailable, match="another issuer"):
        await cache.candidates(RSA_KID, "RS256")
    assert issuer.jwks_fetches == 0


async def test_rfc8414_metadata_is_used_when_openid_discovery_is_absent(
    scripted: Scripted, mock_http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """RFC 8414 §3.1: /.well-known/oauth-authorization-server after a 404."""
    scripted.responses[RFC8414] = scripted.responses.pop(OIDC)
    cache = scripted_cache(mock_http, clock)
    assert await cache.candidates("a", "RS256") != ()
    assert scripted.requests == [OIDC, RFC8414, JWKS_URI]


async def test_no_discovery_document_means_no_keys(
    scripted: Scripted, mock_http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Without metadata there is no jwks_uri to trust."""
    del scripted.responses[OIDC]
    with pytest.raises(KeysUnavailable, match="no discovery document"):
        await scripted_cache(mock_http, clock).candidates("a", "RS256")
    assert JWKS_URI not in scripted.requests


@pytest.mark.parametrize(
    "metadata",
    [
        {"issuer": ISS},
        {"issuer": ISS, "jwks_uri": "file:///etc/passwd"},
        {"issuer": ISS, "jwks_uri": "ftp://id.example.test/keys"},
        {"issuer": ISS, "jwks_uri": 7},
        ["not", "an", "object"],
    ],
)
async def test_unusable_metadata_means_no_keys(
    scripted: Scripted, mock_http: httpx.AsyncClient, clock: FakeClock, metadata: Any
) -> None:
    """RFC 8414 §2: jwks_uri is an http(s) URL; nothing else is fetched."""
    scripted.responses[OIDC] = lambda: httpx.Response(200, json=metadata)
    with pytest.raises(KeysUnavailable):
        await scripted_cache(mock_http, clock).candidates("a", "RS256")
    assert scripted.requests == [OIDC]


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500),
        httpx.Response(200, json=["keys"]),
        httpx.Response(200, content=b"<html>"),
        httpx.Response(200, json={"no": "keys"}),
    ],
)
async def test_a_bad_jwks_on_a_cold_cache_means_no_keys(
    scripted: Scripted, mock_http: httpx.AsyncClient, clock: FakeClock, response: httpx.Response
) -> None:
    """Nothing cached and no usable JWKS: KeysUnavailable (the API answers 503)."""
    scripted.responses[JWKS_URI] = lambda: response
    with pytest.raises(KeysUnavailable):
        await scripted_cache(mock_http, clock).candidates("a", "RS256")


async def test_an_empty_key_set_means_no_keys(
    scripted: Scripted, mock_http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A JWKS without usable signature keys leaves nothing to verify with."""
    scripted.jwks = {"keys": [{"kty": "oct", "k": "AAAA"}]}
    with pytest.raises(KeysUnavailable):
        await scripted_cache(mock_http, clock).candidates("a", "RS256")


# --- refresh limits (J07) --------------------------------------------------------------


async def test_unknown_kids_cause_at_most_one_refetch_per_cooldown(
    scripted: Scripted, mock_http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """RFC 8725 §3.10 spirit: a flood of forged kids cannot flood the issuer."""
    cache = scripted_cache(mock_http, clock, refetch_cooldown=10)
    assert await cache.candidates("a", "RS256") != ()
    assert scripted.count(JWKS_URI) == 1
    for i in range(1000):
        assert await cache.candidates(f"forged-{i}", "RS256") == ()
    assert scripted.count(JWKS_URI) == 1  # within the cooldown of the first fetch
    clock.advance(10)
    for i in range(1000):
        assert await cache.candidates(f"forged-{i}", "RS256") == ()
    assert scripted.count(JWKS_URI) == 2  # exactly one refetch once the cooldown passed
    clock.advance(9.9)
    assert await cache.candidates("forged", "RS256") == ()
    assert scripted.count(JWKS_URI) == 2
    assert scripted.count(OIDC) == 1


async def test_concurrent_unknown_kids_share_one_refetch(
    issuer: Issuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """1,000 concurrent lookups of unknown kids after the cooldown make one request."""
    cache = JwksCache(issuer.url, http, clock=clock, refetch_cooldown=5)
    await cache.candidates(RSA_KID, "RS256")
    clock.advance(5)
    results = await asyncio.gather(*(cache.candidates(f"forged-{i}", "RS256") for i in range(1000)))
    assert results == [()] * 1000
    assert issuer.jwks_fetches == 2


async def test_a_new_published_kid_is_found_after_one_refetch(
    scripted: Scripted, mock_http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Key rotation: a genuinely new kid is fetched on first sight (cooldown permitting)."""
    cache = scripted_cache(mock_http, clock, refetch_cooldown=10)
    await cache.candidates("a", "RS256")
    scripted.jwks = {"keys": [jwk("a"), jwk("b")]}
    clock.advance(10)
    keys = await cache.candidates("b", "RS256")
    assert [key.kid for key in keys] == ["b"]
    assert scripted.count(JWKS_URI) == 2


async def test_a_new_kid_within_the_cooldown_waits_for_it(
    scripted: Scripted, mock_http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The cooldown bounds fetches even for genuine new keys; after it, the key is found."""
    cache = scripted_cache(mock_http, clock, refetch_cooldown=10)
    await cache.candidates("a", "RS256")
    scripted.jwks = {"keys": [jwk("a"), jwk("b")]}
    clock.advance(3)
    assert await cache.candidates("b", "RS256") == ()
    clock.advance(7)
    assert await cache.candidates("b", "RS256") != ()
    assert scripted.count(JWKS_URI) == 2


# --- max_age and rotation (J15) --------------------------------------------------------


async def test_keys_are_refreshed_after_max_age(
    scripted: Scripted, mock_http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Cached keys are refetched once older than max_age, even for known kids."""
    cache = scripted_cache(mock_http, clock, max_age=300, refetch_cooldown=10)
    await cache.candidates("a", "RS256")
    clock.advance(299)
    await cache.candidates("a", "RS256")
    assert scripted.count(JWKS_URI) == 1
    clock.advance(1)
    await cache.candidates("a", "RS256")
    assert scripted.count(JWKS_URI) == 2
    await cache.candidates("a", "RS256")
    assert scripted.count(JWKS_URI) == 2
    assert scripted.count(OIDC) == 1  # discovery is not repeated


async def test_a_removed_key_stops_being_served_after_refresh(
    scripted: Scripted, mock_http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A refresh replaces the set: a key that left the JWKS is no longer returned."""
    scripted.jwks = {"keys": [jwk("a"), jwk("b")]}
    cache = scripted_cache(mock_http, clock, max_age=300)
    assert await cache.candidates("b", "RS256") != ()
    scripted.jwks = {"keys": [jwk("a")]}
    clock.advance(300)
    assert await cache.candidates("b", "RS256") == ()
    assert await cache.candidates("a", "RS256") != ()


async def test_a_removed_key_goes_on_an_unknown_kid_refetch(
    scripted: Scripted, mock_http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Any refetch (here caused by a new kid) also drops keys removed from the JWKS."""
    scripted.jwks = {"keys": [jwk("a"), jwk("b")]}
    cache = scripted_cache(mock_http, clock, refetch_cooldown=10)
    await cache.candidates("a", "RS256")
    scripted.jwks = {"keys": [jwk("c")]}
    clock.advance(10)
    assert await cache.candidates("c", "RS256") != ()
    assert await cache.candidates("a", "RS256") == ()
    assert await cache.candidates("b", "RS256") == ()


# --- outages ---------------------------------------------------------------------------


async def test_issuer_outage_keeps_cached_keys_and_logs(
    issuer: Issuer, http: httpx.AsyncClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreachable issuer does not take the API down while keys are cached."""
    cache = JwksCache(issuer.url, http, clock=clock, max_age=300, refetch_cooldown=10)
    keys = await cache.candidates(RSA_KID, "RS256")
    assert keys != ()
    issuer.stop()
    clock.advance(300)
    with caplog.at_level(logging.WARNING, logger="timesheets.bearer.jwks"):
        assert await cache.candidates(RSA_KID, "RS256") is keys
        assert await cache.candidates("unknown", "RS256") == ()
    warnings = [r for r in caplog.records if r.name == "timesheets.bearer.jwks"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert "keeping the cached ones" in warnings[0].getMessage()
    assert warnings[0].cached == 1
    assert warnings[0].issuer == issuer.url
    assert cache.fetches == 1


async def test_issuer_outage_retries_at_most_once_per_cooldown(
    issuer: Issuer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """While the issuer is down, requests with unknown kids do not hammer it."""
    attempts: list[str] = []

    async def count(request: httpx.Request) -> None:
        attempts.append(str(request.url))

    async with httpx.AsyncClient(timeout=5, verify=TLS, event_hooks={"request": [count]}) as http:
        cache = JwksCache(issuer.url, http, clock=clock, max_age=300, refetch_cooldown=10)
        await cache.candidates(RSA_KID, "RS256")
        assert len(attempts) == 2  # discovery + JWKS
        issuer.stop()
        clock.advance(10)
        with caplog.at_level(logging.WARNING, logger="timesheets.bearer.jwks"):
            for i in range(200):
                assert await cache.candidates(f"forged-{i}", "RS256") == ()
                assert await cache.candidates(RSA_KID, "RS256") != ()
        assert len(attempts) == 3
        clock.advance(10)
        assert await cache.candidates("forged", "RS256") == ()
        assert len(attempts) == 4


async def test_outage_with_nothing_cached_is_keys_unavailable(
    issuer: Issuer, http: httpx.AsyncClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """No keys at all: KeysUnavailable (answered as 503, not 401). The failed attempt is
    logged once; a lookup within the cooldown is refused without a second attempt."""
    issuer.stop()
    cache = JwksCache(issuer.url, http, clock=clock, refetch_cooldown=10)
    with caplog.at_level(logging.WARNING, logger="timesheets.bearer.jwks"):
        with pytest.raises(KeysUnavailable, match=r"next fetch in 10\.0 s") as first:
            await cache.candidates(RSA_KID, "RS256")
        clock.advance(4)
        with pytest.raises(KeysUnavailable, match=r"next fetch in 6\.0 s") as second:
            await cache.candidates(RSA_KID, "RS256")
    assert (first.value.retry_after, second.value.retry_after) == (10, 6)
    warnings = [r for r in caplog.records if r.name == "timesheets.bearer.jwks"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert warnings[0].cached == 0


async def test_recovery_after_a_cold_outage(
    scripted: Scripted, mock_http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """With nothing cached, the issuer is asked again once the cooldown has passed, and
    not before: keys appear at the first attempt after it recovers."""
    scripted.responses[JWKS_URI] = lambda: httpx.Response(503)
    cache = scripted_cache(mock_http, clock, refetch_cooldown=10)
    with pytest.raises(KeysUnavailable, match="503"):
        await cache.candidates("a", "RS256")
    scripted.responses[JWKS_URI] = lambda: httpx.Response(200, json=scripted.jwks)
    clock.advance(9.9)
    with pytest.raises(KeysUnavailable, match="503"):
        await cache.candidates("a", "RS256")
    assert scripted.requests == [OIDC, JWKS_URI]
    clock.advance(0.1)
    assert await cache.candidates("a", "RS256") != ()
    assert scripted.requests == [OIDC, JWKS_URI, JWKS_URI]  # discovery was kept


def forged(test_issuer: Issuer, i: int) -> str:
    """A token naming a kid the issuer never had, with valid claims."""
    return forge({"alg": "RS256", "typ": "at+jwt", "kid": f"forged-{i}"}, test_issuer.claims())


async def test_a_failing_issuer_is_asked_once_per_cooldown_while_nothing_is_cached(
    issuer: Issuer, make_setup: MakeSetup, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 8725 §3.10 spirit: forged tokens cannot multiply requests to a failing issuer.

    Concurrent and sequential verifications inside the cooldown make one attempt between
    them, and each is refused with KeysUnavailable; readiness probes obey the same limit.
    """
    issuer.failing = True
    setup = make_setup(issuer, refetch_cooldown=10)
    with caplog.at_level(logging.WARNING, logger="timesheets.bearer.jwks"):
        results = await asyncio.gather(
            *(setup.verifier.verify(forged(issuer, i)) for i in range(50)),
            return_exceptions=True,
        )
        assert all(isinstance(r, KeysUnavailable) for r in results), results
        for i in range(100):
            with pytest.raises(KeysUnavailable, match="503"):
                await setup.verifier.verify(forged(issuer, i))
        assert not await setup.cache.ready()
        assert setup.fetches() == (1, 0)
        setup.clock.advance(9.9)
        with pytest.raises(KeysUnavailable, match=r"next fetch in 0\.1 s"):
            await setup.verifier.verify(issuer.token())
        assert setup.fetches() == (1, 0)
        setup.clock.advance(0.1)
        results = await asyncio.gather(
            *(setup.verifier.verify(forged(issuer, i)) for i in range(50)),
            return_exceptions=True,
        )
        assert all(isinstance(r, KeysUnavailable) for r in results), results
        assert setup.fetches() == (2, 0)
    warnings = [r for r in caplog.records if r.name == "timesheets.bearer.jwks"]
    assert [r.getMessage() for r in warnings] == [
        "cannot refresh the issuer's keys; keeping the cached ones"
    ] * 2  # one line per attempt, none per refused lookup
    assert all("503" in r.reason and r.cached == 0 for r in warnings)

    issuer.failing = False  # recovered, but the cooldown still holds
    with pytest.raises(KeysUnavailable):
        await setup.verifier.verify(issuer.token())
    assert setup.fetches() == (2, 0)
    setup.clock.advance(10)
    principal = await setup.verifier.verify(issuer.token())
    assert principal.client_id == "importer"
    assert setup.fetches() == (3, 1)
    with pytest.raises(InvalidToken, match="unknown key"):
        await setup.verifier.verify(forged(issuer, 0))
    assert setup.fetches() == (3, 1)  # an unknown kid waits for the cooldown again


class Gated(Scripted):
    """A scripted issuer whose answers wait until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.arrived: list[str] = []
        self.waiting = asyncio.Event()

    async def handle_later(self, request: httpx.Request) -> httpx.Response:
        self.arrived.append(str(request.url))
        self.waiting.set()
        await self.gate.wait()
        return self.handle(request)


@pytest.fixture
async def gated() -> Any:
    """A gated issuer and an HTTP client whose requests go to it."""
    issuer = Gated()
    transport = httpx.MockTransport(issuer.handle_later)
    async with httpx.AsyncClient(transport=transport, verify=TLS) as client:
        yield issuer, client


async def test_callers_wait_for_the_fetch_in_flight_even_without_a_cooldown(
    gated: tuple[Gated, httpx.AsyncClient], clock: FakeClock
) -> None:
    """Lookups arriving during an attempt share it instead of starting their own, even
    with a zero cooldown; a failed attempt answers all of them."""
    issuer, http = gated
    issuer.responses[OIDC] = lambda: httpx.Response(503)
    cache = scripted_cache(http, clock, refetch_cooldown=0)
    lookups = [asyncio.create_task(cache.candidates(f"kid-{i}", "RS256")) for i in range(20)]
    await issuer.waiting.wait()
    issuer.gate.set()
    results = await asyncio.gather(*lookups, return_exceptions=True)
    assert all(isinstance(r, KeysUnavailable) for r in results), results
    assert issuer.arrived == [OIDC]


async def test_a_caller_giving_up_does_not_cancel_the_shared_fetch(
    gated: tuple[Gated, httpx.AsyncClient], clock: FakeClock
) -> None:
    """The caller that started the attempt is cancelled (its client left); the others
    still get the keys from that same attempt."""
    issuer, http = gated
    cache = scripted_cache(http, clock)
    first = asyncio.create_task(cache.candidates("a", "RS256"))
    await issuer.waiting.wait()
    others = [asyncio.create_task(cache.candidates("a", "RS256")) for _ in range(5)]
    await asyncio.sleep(0)
    first.cancel()
    issuer.gate.set()
    found = await asyncio.gather(*others)
    assert all([key.kid for key in keys] == ["a"] for keys in found)
    assert first.cancelled()
    assert issuer.arrived == [OIDC, JWKS_URI]  # the cancelled discovery was not abandoned


@pytest.mark.parametrize(
    "failure",
    [
        lambda: httpx.Response(500),
        lambda: httpx.Response(200, json=["x"]),
        lambda: httpx.Response(200, content=b"not json"),
        lambda: httpx.Response(200, json={"keys": "x"}),
    ],
)
async def test_a_bad_refresh_keeps_the_cached_keys(
    scripted: Scripted,
    mock_http: httpx.AsyncClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    failure: Callable[[], httpx.Response],
) -> None:
    """A failed or malformed refresh never wipes a working key set."""
    cache = scripted_cache(mock_http, clock, max_age=300)
    keys = await cache.candidates("a", "RS256")
    assert keys != ()
    scripted.responses[JWKS_URI] = failure
    clock.advance(300)
    with caplog.at_level(logging.WARNING, logger="timesheets.bearer.jwks"):
        assert await cache.candidates("a", "RS256") is keys
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    assert scripted.count(JWKS_URI) == 2
