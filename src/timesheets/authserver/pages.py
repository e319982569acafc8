"""Server-rendered pages: Jinja2 templates, security headers, CSRF tokens, cookies."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from timesheets.authserver.runtime import Runtime

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
CSRF_COOKIE = "ts_csrf"
SESSION_COOKIE = "ts_session"
#: RFC 9700 §4.16 (no framing), no referrer leaving the origin, no caching of forms.
#: (`no-referrer` would make browsers send `Origin: null` on our own form posts.)
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def secure_cookies(runtime: Runtime) -> bool:
    """Cookies are Secure unless the issuer is plain http (loopback development)."""
    return runtime.settings.issuer.startswith("https://")


def _csrf_key(runtime: Runtime) -> bytes:
    return hashlib.sha256(b"csrf\x00" + runtime.settings.key_encryption_key.encode()).digest()


def csrf_token(runtime: Runtime, cookie: str) -> str:
    """The form token bound to the browser's CSRF cookie."""
    return hmac.new(_csrf_key(runtime), cookie.encode(), hashlib.sha256).hexdigest()


def render(
    runtime: Runtime,
    request: Request,
    template: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    """A page with its security headers and a CSRF token for its forms."""
    cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    html = TEMPLATES.get_template(template).render(csrf=csrf_token(runtime, cookie), **context)
    response = HTMLResponse(html, status, {**PAGE_HEADERS, **(headers or {})})
    if request.cookies.get(CSRF_COOKIE) != cookie:
        response.set_cookie(
            CSRF_COOKIE,
            cookie,
            httponly=True,
            samesite="strict",
            secure=secure_cookies(runtime),
            path="/",
        )
    return response


def message(runtime: Runtime, request: Request, status: int, title: str, text: str) -> Response:
    """A page that only says something (errors included)."""
    return render(
        runtime, request, "message.html", status, title=title, message=text, error=status >= 400
    )


def form_allowed(runtime: Runtime, request: Request, form: dict[str, str]) -> bool:
    """A form post from our own pages: same-origin (when the browser says) and CSRF token."""
    origin = request.headers.get("origin")
    issuer = urlsplit(runtime.settings.issuer)
    if origin is not None and origin != f"{issuer.scheme}://{issuer.netloc}":
        return False
    cookie = request.cookies.get(CSRF_COOKIE)
    token = form.get("csrf", "")
    return bool(cookie) and hmac.compare_digest(token, csrf_token(runtime, cookie or ""))


def form_refused(runtime: Runtime, request: Request) -> Response:
    """The answer to a form post `form_allowed` refuses."""
    return message(
        runtime, request, 403, "Request refused", "The form expired or came from elsewhere."
    )


def set_session_cookie(runtime: Runtime, response: Response, value: str) -> None:
    """The login session cookie: HttpOnly, SameSite=Lax, Secure outside loopback http."""
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=runtime.settings.session_seconds,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(runtime),
        path="/",
    )
