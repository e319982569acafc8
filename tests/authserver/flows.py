"""Driving the browser side of the authorization server as a browser would."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
AUTHORIZE = re.compile(r'name="authorize" value="([^"]*)"')


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


@dataclass
class CodeResult:
    """Where the browser was sent at the end, and the parsed answer."""

    location: str
    params: dict[str, str]


async def authorize_and_login(
    http: httpx.AsyncClient, query: dict[str, str], email: str, password: str
) -> CodeResult:
    """GET /authorize, post the login form, and return the redirect to the client."""
    page = await http.get("/authorize?" + urlencode(query))
    assert page.status_code == 200, page.text
    csrf = CSRF.search(page.text)
    authorize = AUTHORIZE.search(page.text)
    assert csrf is not None
    assert authorize is not None
    answer = await http.post(
        "/login",
        data={
            "csrf": csrf.group(1),
            "authorize": authorize.group(1).replace("&amp;", "&"),
            "email": email,
            "password": password,
        },
    )
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    parts = urlsplit(location)
    raw = parts.fragment or parts.query
    return CodeResult(location, {k: v[0] for k, v in parse_qs(raw).items()})


async def exchange_code(
    http: httpx.AsyncClient, code: str, client_id: str, redirect_uri: str, verifier: str
) -> httpx.Response:
    """POST /oauth/token: the authorization code grant of a public client with PKCE."""
    return await http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
