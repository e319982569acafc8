"""A standard client we did not write (Authlib's OAuth 2 client) completes the
authorization code flow with PKCE and a refresh, posting the login form like a browser."""

from __future__ import annotations

import asyncio
import re

import jwt
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.authserver.conftest import AUDIENCE, AuthServer
from timesheets.authserver import admin, people

REDIRECT = "http://127.0.0.1:1/callback"
PASSWORD = "correct horse battery"


def _flow(issuer: str, client_id: str) -> tuple[dict[str, object], dict[str, object]]:
    metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=30).json()
    client = OAuth2Session(
        client_id,
        redirect_uri=REDIRECT,
        scope="openid profile offline_access read:timesheets",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = generate_token(48)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, audience=AUDIENCE
    )
    browser = requests.Session()
    page = browser.get(url, timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    authorize = re.search(r'name="authorize" value="([^"]*)"', page.text)
    assert csrf is not None
    assert authorize is not None
    answer = browser.post(
        f"{issuer}/login",
        data={
            "csrf": csrf.group(1),
            "authorize": authorize.group(1).replace("&amp;", "&"),
            "email": "erin@abc.example",
            "password": PASSWORD,
        },
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303, answer.text
    token = client.fetch_token(
        metadata["token_endpoint"],
        authorization_response=answer.headers["location"],
        code_verifier=verifier,
        state=state,
    )
    refreshed = client.refresh_token(
        metadata["token_endpoint"], refresh_token=token["refresh_token"]
    )
    return dict(token), dict(refreshed)


async def test_authlib_client_completes_code_pkce_and_refresh(auth_server: AuthServer) -> None:
    await auth_server.tenant.create_api()

    async def work(session):  # type: ignore[no-untyped-def]
        created = await admin.create_client(
            session, name="Authlib SPA", app_type="spa", redirect_uris=(REDIRECT,)
        )
        await admin.add_grant(session, created.client.client_id, AUDIENCE, ["read:timesheets"])
        await people.create_role(session, "Employee", permissions={AUDIENCE: ["read:timesheets"]})
        await people.create_user(session, email="erin@abc.example", name="Erin", password=PASSWORD)
        await people.assign_role(session, "erin@abc.example", "Employee")
        return created.client.client_id

    client_id: str = await auth_server.tenant.run(work)
    token, refreshed = await asyncio.to_thread(_flow, auth_server.url, client_id)
    assert token["scope"] == "openid profile offline_access read:timesheets"
    assert refreshed["refresh_token"] != token["refresh_token"]
    jwks = jwt.PyJWKSet.from_dict((await auth_server.http.get("/.well-known/jwks.json")).json())
    access = str(refreshed["access_token"])
    key = next(k for k in jwks.keys if k.key_id == jwt.get_unverified_header(access)["kid"])
    claims = jwt.decode(
        access, key, algorithms=["RS256"], audience=AUDIENCE, issuer=auth_server.url
    )
    assert claims["scope"] == "openid profile offline_access read:timesheets"
    assert jwt.get_unverified_header(access)["typ"] == "at+jwt"
