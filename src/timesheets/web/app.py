"""Serving the web app: its static files, `/config.json`, and index.html for its routes.

The page's Content-Security-Policy allows scripts from this origin only and network
calls to the authorization server and the API only; the app keeps tokens in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
ROUTES = ("/", "/week", "/history", "/approvals", "/callback")
SCOPE = " ".join(
    [
        "openid profile email offline_access",
        "read:timesheets create:timesheets delete:timesheets approve:timesheets",
    ]
)


@dataclass(frozen=True)
class WebConfig:
    """What the app needs to sign people in and call the API."""

    issuer: str
    client_id: str
    audience: str
    api_url: str
    web_url: str

    def document(self) -> dict[str, str]:
        """The `/config.json` the app reads at start."""
        base = self.issuer.rstrip("/")
        return {
            "client_id": self.client_id,
            "audience": self.audience,
            "api_url": self.api_url,
            "web_url": self.web_url,
            "redirect_uri": f"{self.web_url}/callback",
            "scope": SCOPE,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "end_session_endpoint": f"{base}/logout",
            "post_logout_redirect_uri": self.web_url,
        }

    def headers(self) -> dict[str, str]:
        """Security headers of every page and file."""
        origins = " ".join(
            f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
            for url in (self.issuer, self.api_url)
        )
        return {
            "Content-Security-Policy": (
                "default-src 'self'; script-src 'self'; style-src 'self'; "
                f"connect-src 'self' {origins}; frame-ancestors 'none'; base-uri 'none'; "
                "form-action 'self'"
            ),
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        }


def create_app(config: WebConfig) -> ASGIApp:
    """The web app's server."""
    headers = config.headers()

    async def index(_request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={**headers, "Cache-Control": "no-store"})

    async def config_json(_request: Request) -> Response:
        return Response(
            json.dumps(config.document()), headers=headers, media_type="application/json"
        )

    async def healthz(_request: Request) -> Response:
        return Response('{"status":"ok"}', media_type="application/json")

    app = Starlette(
        routes=[
            *(Route(path, index) for path in ROUTES),
            Route("/config.json", config_json),
            Route("/healthz", healthz),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    )

    return SecurityHeaders(app, headers)


class SecurityHeaders:
    """ASGI middleware adding the page's security headers to every response."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in present:
                        present[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
