"""`timesheets up`: every service of the platform on loopback, bootstrapped.

The authorization server listens on 127.0.0.1:9000, the Timesheets API on 127.0.0.1:8000
and the web app on 127.0.0.1:3000, each in its own process, on SQLite files in the data
directory.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import multiprocessing
import signal
import time
from typing import Any

from timesheets.api.app import create_app as create_api_app
from timesheets.api.app import migrate as migrate_api
from timesheets.authserver.app import create_app as create_auth_app
from timesheets.authserver.app import create_runtime, prepare
from timesheets.bootstrap import AUDIENCE, bootstrap
from timesheets.logging import configure
from timesheets.serve import serve
from timesheets.settings import ApiSettings, AuthServerSettings
from timesheets.web.app import WebConfig
from timesheets.web.app import create_app as create_web_app

log = logging.getLogger("timesheets.up")
API_PORT = 8000
WEB_PORT = 3000
#: The web app's origin: the one web origin its client is registered with, and so the one
#: origin the API lets browsers call it from.
WEB_URL = f"http://127.0.0.1:{WEB_PORT}"


def _serve(factory: Any, host: str, port: int) -> None:
    configure()
    serve(factory, host, port, 1)


def api_settings_for(auth: AuthServerSettings) -> ApiSettings:
    """The API's settings beside an authorization server."""
    return ApiSettings(
        issuer=auth.issuer,
        audience=AUDIENCE,
        data_dir=auth.data_dir,
        port=API_PORT,
        cors_origins=[WEB_URL],
    )


def run_up(settings: AuthServerSettings) -> None:
    """Migrate, bootstrap the demo tenant, write bootstrap.json, then serve every service."""
    api = api_settings_for(settings)

    async def prepare_and_bootstrap() -> None:
        runtime = create_runtime(settings)
        try:
            await prepare(runtime)
            urls = {
                "api_url": f"http://{api.host}:{api.port}",
                "web_url": WEB_URL,
            }
            document = await bootstrap(runtime, settings.data_dir, urls)
        finally:
            await runtime.engine.dispose()
        await migrate_api(api)
        log.info(
            "bootstrapped",
            extra={
                "bootstrap": str(settings.data_dir / "bootstrap.json"),
                "issuer": document["issuer"],
            },
        )

    asyncio.run(prepare_and_bootstrap())
    document = json.loads((settings.data_dir / "bootstrap.json").read_text())
    web = WebConfig(
        issuer=settings.issuer,
        client_id=document["web_client_id"],
        audience=AUDIENCE,
        api_url=document["api_url"],
        web_url=document["web_url"],
    )
    context = multiprocessing.get_context("spawn")
    services = [
        (
            functools.partial(create_auth_app, settings, prepare_on_start=False),
            settings.host,
            settings.port,
        ),
        (functools.partial(create_api_app, api, migrate_on_start=False), api.host, api.port),
        (functools.partial(create_web_app, web), "127.0.0.1", WEB_PORT),
    ]
    children = [context.Process(target=_serve, args=service) for service in services]
    for child in children:
        child.start()
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and all(child.is_alive() for child in children):
        time.sleep(0.3)
    for child in children:
        if child.is_alive():
            child.terminate()
    for child in children:
        child.join(timeout=35)
        if child.is_alive():
            child.kill()
