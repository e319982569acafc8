"""CORS for the endpoints a browser app calls (token, revocation, UserInfo): only the web
origins registered for a client get `Access-Control-Allow-Origin`, always with
`Vary: Origin`, never `*`; the authorization endpoint and login pages get none."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from timesheets.authserver.runtime import Runtime

CORS_PATHS = frozenset({"/oauth/token", "/oauth/revoke", "/userinfo"})


class RegisteredOriginsCors:
    """ASGI middleware answering CORS for registered web origins on CORS_PATHS."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in CORS_PATHS:
            await self.app(scope, receive, send)
            return
        origin = dict(scope["headers"]).get(b"origin", b"").decode("latin-1")
        allowed = bool(origin) and origin in await self.runtime.web_origins()
        if scope["method"] == "OPTIONS" and origin:
            headers = {"Vary": "Origin", "Content-Length": "0"}
            if allowed:
                headers |= {
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": "POST, GET",
                    "Access-Control-Allow-Headers": "Authorization, Content-Type",
                    "Access-Control-Max-Age": "600",
                }
            await send(
                {
                    "type": "http.response.start",
                    "status": 204 if allowed else 403,
                    "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        extra = [(b"vary", b"Origin")]
        if allowed:
            extra.append((b"access-control-allow-origin", origin.encode("latin-1")))

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_cors)
