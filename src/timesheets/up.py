"""`timesheets up`: every service of the platform on loopback, bootstrapped."""

from __future__ import annotations

import asyncio
import functools
import logging

from timesheets.authserver.app import create_app, create_runtime, prepare
from timesheets.bootstrap import bootstrap
from timesheets.serve import serve
from timesheets.settings import AuthServerSettings

log = logging.getLogger("timesheets.up")


def run_up(settings: AuthServerSettings) -> None:
    """Migrate, bootstrap the demo tenant, write bootstrap.json, then serve."""

    async def prepare_and_bootstrap() -> None:
        runtime = create_runtime(settings)
        try:
            await prepare(runtime)
            document = await bootstrap(runtime, settings.data_dir, {})
        finally:
            await runtime.engine.dispose()
        log.info(
            "bootstrapped",
            extra={
                "bootstrap": str(settings.data_dir / "bootstrap.json"),
                "issuer": document["issuer"],
            },
        )

    asyncio.run(prepare_and_bootstrap())
    serve(
        functools.partial(create_app, settings, prepare_on_start=False),
        settings.host,
        settings.port,
        1,
    )
