"""The authorization request's checks (RFC 6749 §3.1, §4.1.1; OpenID Connect Core
§3.1.2.1): which errors go back to the client and which are shown on a page."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from timesheets.authserver.oauth.authorization_request import (
    AuthorizeError,
    ClientRegistration,
    check_request,
    prompts,
)

REDIRECT = "https://spa.example.com/callback"
SPA = ClientRegistration(
    "spa", (REDIRECT,), frozenset({"authorization_code", "refresh_token"}), True
)
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def _query(**extra: str | None) -> str:
    base: dict[str, str | None] = {
        "response_type": "code",
        "client_id": "spa",
        "redirect_uri": REDIRECT,
        "state": "s",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    return urlencode({k: v for k, v in (base | extra).items() if v is not None})


def test_a_good_request() -> None:
    auth = check_request(_query(scope="openid read", audience="https://api"), SPA)
    assert (auth.redirect_uri, auth.redirect_uri_given) == (REDIRECT, True)
    assert (auth.scopes, auth.audiences, auth.state) == (("openid", "read"), ("https://api",), "s")
    assert (auth.prompt, auth.max_age) == (None, None)


def test_the_one_registered_redirect_uri_is_the_default() -> None:
    auth = check_request(_query(redirect_uri=None), SPA)
    assert (auth.redirect_uri, auth.redirect_uri_given) == (REDIRECT, False)


@pytest.mark.parametrize(
    ("query", "client"),
    [
        (_query(), None),
        (_query(redirect_uri=REDIRECT + "/"), SPA),
        (_query() + "&state=again", SPA),
    ],
)
def test_before_the_redirect_uri_is_trusted_errors_are_shown_not_sent(
    query: str, client: ClientRegistration | None
) -> None:
    with pytest.raises(AuthorizeError) as refused:
        check_request(query, client)
    assert refused.value.redirectable is False


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"response_type": None}, "invalid_request"),
        ({"response_type": "token"}, "unauthorized_client"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "whenever"}, "invalid_request"),
        ({"max_age": "-5"}, "invalid_request"),
        ({"max_age": "12345678901"}, "invalid_request"),
    ],
)
def test_later_errors_go_back_to_the_client(extra: dict[str, str | None], error: str) -> None:
    with pytest.raises(AuthorizeError) as refused:
        check_request(_query(**extra), SPA)
    assert (refused.value.error, refused.value.redirectable) == (error, True)


def test_prompt_and_max_age_are_read() -> None:
    auth = check_request(_query(prompt="login consent", max_age="0"), SPA)
    assert prompts(auth) == {"login", "consent"}
    assert auth.max_age == 0
    assert prompts(check_request(_query(), SPA)) == frozenset()
