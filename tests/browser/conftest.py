"""The whole system for browser tests: authorization server, API and web app, in this process.

Each service is served by uvicorn in its own thread on a free loopback port, the way
`timesheets up` wires them (bootstrapped demo tenant, the public SPA client), with
access tokens for people living 20 seconds so that the web app renews them during a
test. Chromium is Debian's (/usr/bin/chromium), driven by Playwright's async API on the
session's event loop; the browser tests are skipped when it is not installed.

Screenshots go to `test-artifacts/screenshots/<test>-<step>.png` at the repository root.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.live import LiveServer, serve_in_thread
from tests.pg import free_port
from timesheets.api.app import create_app as create_api_app
from timesheets.api.app import migrate
from timesheets.authserver.app import create_app as create_auth_app
from timesheets.authserver.app import create_runtime, prepare
from timesheets.bootstrap import AUDIENCE, bootstrap
from timesheets.settings import ApiSettings, AuthServerSettings
from timesheets.web.app import WebConfig
from timesheets.web.app import create_app as create_web_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
HAVE_CHROMIUM = CHROMIUM.exists()
KEK = "browser-tests-key-encryption-key!"
USER_TOKEN_SECONDS = 20
#: Ports that a developer's `timesheets up` may hold.
RESERVED_PORTS = frozenset({9000, 8000, 3000})
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DEFAULT_TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class System:
    """The running services, their URLs and the demo people's passwords."""

    auth_url: str
    api_url: str
    web_url: str
    client_id: str
    passwords: dict[str, str]
    servers: list[LiveServer] = field(repr=False)


def _port() -> int:
    while (port := free_port()) in RESERVED_PORTS:
        pass
    return port


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """Authorization server, API and web app on free loopback ports, bootstrapped."""
    data_dir = tmp_path_factory.mktemp("browser-system")
    auth_port, api_port, web_port = _port(), _port(), _port()
    issuer = f"http://127.0.0.1:{auth_port}"
    api_url = f"http://127.0.0.1:{api_port}"
    web_url = f"http://127.0.0.1:{web_port}"
    auth_settings = AuthServerSettings(
        issuer=issuer,
        port=auth_port,
        data_dir=data_dir,
        key_encryption_key=KEK,
        client_cache_seconds=0,
        key_cache_seconds=0,
        # The console walkthrough rotates a key published moments before.
        key_min_published_seconds=0,
        user_token_seconds=USER_TOKEN_SECONDS,
    )
    runtime = create_runtime(auth_settings)
    try:
        await prepare(runtime)
        document = await bootstrap(runtime, data_dir, {"api_url": api_url, "web_url": web_url})
    finally:
        await runtime.engine.dispose()
    api_settings = ApiSettings(
        issuer=issuer,
        audience=AUDIENCE,
        port=api_port,
        data_dir=data_dir,
        cors_origins=[web_url],
        leeway_seconds=0,  # an expired access token is refused at once
    )
    await migrate(api_settings)
    web_config = WebConfig(
        issuer=issuer,
        client_id=document["web_client_id"],
        audience=AUDIENCE,
        api_url=api_url,
        web_url=web_url,
    )
    servers: list[LiveServer] = []
    try:
        servers.append(
            serve_in_thread(create_auth_app(auth_settings, prepare_on_start=False), auth_port)
        )
        servers.append(
            serve_in_thread(create_api_app(api_settings, migrate_on_start=False), api_port)
        )
        servers.append(serve_in_thread(create_web_app(web_config), web_port))
        passwords = {user["email"]: user["password"] for user in document["users"]}
        yield System(issuer, api_url, web_url, document["web_client_id"], passwords, servers)
    finally:
        for server in reversed(servers):
            server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium, for the whole run (the tests are skipped without it)."""
    if not HAVE_CHROMIUM:
        pytest.skip(
            f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
        )
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Pages:
    """Opens pages, each in a fresh browser context (its own cookies), closed after the test."""

    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self, **options: Any) -> Page:
        """A new page in a new context: en-US, UTC, 1280x800 unless `options` say otherwise."""
        settings: dict[str, Any] = {
            "locale": "en-US",
            "timezone_id": "UTC",
            "viewport": {"width": 1280, "height": 800},
        }
        settings.update(options)
        context = await self.browser.new_context(**settings)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        return page


@pytest_asyncio.fixture(loop_scope="session")
async def pages(browser: Browser) -> AsyncIterator[Pages]:
    """Fresh browser contexts for one test; uncaught script errors fail the test."""
    opened = Pages(browser)
    yield opened
    for context in opened.contexts:
        await context.close()
    assert not opened.errors, "uncaught errors in the page:\n" + "\n".join(opened.errors)


Shot = Callable[[Page, str], Awaitable[None]]


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """test-artifacts/screenshots at the repository root (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def shot(request: pytest.FixtureRequest, screenshot_dir: Path) -> Shot:
    """`await shot(page, "step")` saves `<test>-<step>.png` (the full page)."""
    name = request.node.name

    async def take(page: Page, step: str) -> None:
        await page.screenshot(path=screenshot_dir / f"{name}-{step}.png", full_page=True)

    return take
