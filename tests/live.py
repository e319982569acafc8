"""Real servers for tests: an ASGI app served by uvicorn on a free loopback port."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from timesheets.serve import bind


@dataclass
class LiveServer:
    """A uvicorn server running in a background thread."""

    url: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Ask the server to finish and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve_in_thread(app: Any, port: int = 0) -> LiveServer:
    """Serve `app` on 127.0.0.1 (a free port unless given) until `stop()`."""
    sock = bind("127.0.0.1", port)
    config = uvicorn.Config(app, lifespan="on", access_log=False, log_config=None, loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    return LiveServer(f"http://127.0.0.1:{sock.getsockname()[1]}", app, server, thread)
