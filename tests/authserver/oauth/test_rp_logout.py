"""RP-Initiated Logout 1.0 decisions, without a server: hints, clients, confirmation, return."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from timesheets.authserver.keys import generate_private_key, public_jwk
from timesheets.authserver.oauth import rp_logout
from timesheets.authserver.oauth.rp_logout import Hint, LogoutError, LogoutRequest
from timesheets.authserver.oauth.tenant import ClientView

ISSUER = "https://login.example"
KEY = generate_private_key("RS256")
JWKS = {"keys": [public_jwk(KEY, "RS256", "k1")]}
CLIENT = ClientView(
    "web-app-0001",
    "Web App",
    "spa",
    "none",
    frozenset({"authorization_code"}),
    post_logout_redirect_uris=("https://app.example/", "https://app.example/out?from=op"),
)


def _token(**claims: Any) -> str:
    now = int(time.time())
    base = {"iss": ISSUER, "sub": "usr_1", "aud": "web-app-0001", "iat": now, "exp": now + 60}
    return jwt.encode(base | claims, KEY, "RS256", headers={"kid": "k1"})


def _request(**params: str) -> LogoutRequest:
    return LogoutRequest.of(params)


def test_a_hint_names_the_person_and_client_even_when_expired() -> None:
    expired = _token(exp=int(time.time()) - 3600)
    assert rp_logout.read_hint(expired, JWKS, ISSUER) == Hint("usr_1", "web-app-0001")
    several = _token(aud=["web-app-0001", "other"], azp="web-app-0001")
    assert rp_logout.read_hint(several, JWKS, ISSUER).client_id == "web-app-0001"


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        _token(iss="https://evil.example"),
        jwt.encode({"iss": ISSUER, "sub": "u", "aud": "a"}, "s" * 32, "HS256"),
        jwt.encode({"iss": ISSUER, "sub": "u", "aud": "a"}, KEY, "RS256", headers={"kid": "k9"}),
        jwt.encode({"iss": ISSUER, "aud": "a"}, KEY, "RS256", headers={"kid": "k1"}),
    ],
    ids=["not-a-jwt", "issuer", "hs256", "unknown-kid", "no-sub"],
)
def test_a_hint_not_issued_by_this_server_is_refused(token: str) -> None:
    with pytest.raises(LogoutError, match="id_token_hint"):
        rp_logout.read_hint(token, json.loads(json.dumps(JWKS)), ISSUER)


def test_client_id_must_match_the_hint() -> None:
    hint = Hint("usr_1", "web-app-0001")
    assert rp_logout.client_id_of(_request(client_id="web-app-0001"), hint) == "web-app-0001"
    assert rp_logout.client_id_of(_request(), hint) == "web-app-0001"
    assert rp_logout.client_id_of(_request(client_id="x-app-001"), None) == "x-app-001"
    with pytest.raises(LogoutError, match="does not match"):
        rp_logout.client_id_of(_request(client_id="other-app"), hint)


def test_the_person_confirms_unless_the_hint_is_theirs() -> None:
    hint = Hint("usr_1", "web-app-0001")
    assert rp_logout.must_confirm(hint, "usr_1") is False
    assert rp_logout.must_confirm(hint, "usr_2") is True
    assert rp_logout.must_confirm(None, "usr_1") is True
    assert rp_logout.must_confirm(None, None) is False


def test_the_browser_returns_only_to_an_exactly_registered_uri_with_state() -> None:
    out = "https://app.example/out?from=op"
    assert rp_logout.return_to(_request(post_logout_redirect_uri=out), CLIENT) == out
    with_state = _request(post_logout_redirect_uri=out, state="a&b")
    assert rp_logout.return_to(with_state, CLIENT) == f"{out}&state=a%26b"
    root = _request(post_logout_redirect_uri="https://app.example/", state="s")
    assert rp_logout.return_to(root, CLIENT) == "https://app.example/?state=s"
    for target in ("https://app.example", "https://app.example/out", "https://evil.example/"):
        assert rp_logout.return_to(_request(post_logout_redirect_uri=target), CLIENT) is None
    assert rp_logout.return_to(_request(post_logout_redirect_uri=out), None) is None
    assert rp_logout.return_to(_request(state="s"), CLIENT) is None
