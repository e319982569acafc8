"""Two Authorization headers on every endpoint of the API, on SQLite and PostgreSQL
(RFC 9110 §11.6.2: one `credentials` value; RFC 6750 §3.1: invalid_request).

The request is refused before the endpoint runs, whatever the second header holds and
whichever comes first: nothing is deleted, decided or stored, and the refusal is logged.
`POST /timesheets` with JSON is served by the create lane, the others by the full stack.
"""

from __future__ import annotations

import logging

import pytest

from tests.api.conftest import Api
from tests.api.routers.test_form_token import endpoints, nothing_changed, refusals
from tests.api.seed import SEED
from tests.security.test_catalogue_bearer import assert_bearer_error
from timesheets.authorization_header import REPEATED


def twice(token: str, second: str) -> list[tuple[str, str]]:
    """A valid bearer header and a second Authorization header, as sent on the wire."""
    return [("Authorization", f"Bearer {token}"), ("Authorization", second)]


async def test_a_second_authorization_header_is_invalid_request_on_every_endpoint(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    token = api.issuer.token()
    seconds = (f"Bearer {token}", "Bearer other", "Basic dXNlcjpwYXNz")
    async with nothing_changed(api) as entry:
        for second in seconds:
            for method, path in endpoints(entry):
                headers = twice(token, second)
                body = {"json": SEED} if method in ("POST", "PUT") else {}
                response = await api.http.request(method, path, headers=headers, **body)
                assert response.request.headers.get_list("authorization") == [
                    f"Bearer {token}",
                    second,
                ]
                assert_bearer_error(response, 400, "invalid_request", REPEATED)
    assert [(r.__dict__["status"], r.__dict__["error"]) for r in refusals(caplog)] == [
        (400, "invalid_request")
    ] * 27
