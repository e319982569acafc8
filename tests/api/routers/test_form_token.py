"""A token in a form body beside the Authorization header, on every endpoint, on SQLite
and PostgreSQL (RFC 6750 §2: one method per request; §3.1: invalid_request).

Whatever the form's size up to the API's body limit, declared or chunked, the request is
refused before the endpoint runs: nothing is deleted, decided or stored. A form past the
limit cannot be searched and is 413, also before the endpoint runs. A form without
`access_token` reaches the endpoint, which answers as it does any body: DELETE and GET
ignore it, PUT and POST refuse it as not JSON (415). Without a bearer header the form's
token counts as none (401).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api
from tests.api.seed import SEED
from tests.security.test_catalogue_bearer import (
    HEADER_ONLY,
    assert_bearer_error,
    assert_no_credentials,
)

MIB = 1024 * 1024
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TOO_LARGE = {"message": f"Request body exceeds {MIB} bytes"}
NOT_JSON = {"message": "Content-Type must be application/json"}
NOT_JSON_OR_LINES = {
    "message": "Content-Type must be application/json or application/x-ndjson or application/jsonl"
}


def form(size: int, token: str | None) -> bytes:
    """A form of exactly `size` bytes, `access_token` last when a token is given."""
    tail = b"" if token is None else b"&access_token=" + token.encode()
    return b"note=" + b"x" * (size - len(b"note=") - len(tail)) + tail


async def parts(body: bytes, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    """The body sent chunked (no Content-Length)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def send(
    api: Api, method: str, path: str, body: bytes, *, chunked: bool, token: str | None = ""
) -> httpx.Response:
    """The request with a form body, declared or chunked, and a valid header token (none
    when `token` is None)."""
    headers = FORM if token is None else FORM | api.auth(token or None)
    content: Any = parts(body) if chunked else body
    response = await api.http.request(method, path, content=content, headers=headers)
    assert ("content-length" in response.request.headers) is not chunked
    return response


async def new_entry(api: Api) -> str:
    """The id of a new submitted entry."""
    response = await api.http.post("/timesheets", json=SEED, headers=api.auth())
    assert response.status_code == 201, response.text
    entry_id: str = response.json()["id"]
    return entry_id


async def status_of(api: Api, entry_id: str) -> int | str:
    """The entry's status, or 404 once it is gone."""
    response = await api.http.get(f"/timesheets/{entry_id}", headers=api.auth())
    if response.status_code == 404:
        return 404
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


@asynccontextmanager
async def nothing_changed(api: Api) -> AsyncIterator[str]:
    """A new submitted entry; after the block every table is as it was and the entry is
    still there, submitted."""
    entry = await new_entry(api)
    before = await api.row_counts()
    yield entry
    assert await api.row_counts() == before
    assert await status_of(api, entry) == "submitted"


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The API's log records of refused requests."""
    return [
        record
        for record in caplog.records
        if record.name == "timesheets.api" and record.getMessage() == "request refused"
    ]


def endpoints(entry: str) -> list[tuple[str, str]]:
    """Every endpoint of the API, on `entry`."""
    return [
        ("DELETE", f"/timesheets/{entry}"),
        ("PUT", f"/approvals/{entry}"),
        ("POST", "/timesheets"),
        ("POST", "/timesheet"),
        ("POST", "/timesheets/upload"),
        ("GET", "/timesheets"),
        ("GET", f"/timesheets/{entry}"),
        ("GET", f"/timesheets/{entry}/audit"),
        ("GET", "/approvals"),
    ]


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_a_form_token_beside_the_header_is_invalid_request_on_every_endpoint(
    api: Api, caplog: pytest.LogCaptureFixture, chunked: bool
) -> None:
    caplog.set_level(logging.INFO)
    token = api.issuer.token()
    async with nothing_changed(api) as entry:
        for size in (100, 20_000, MIB):
            for method, path in endpoints(entry):
                response = await send(api, method, path, form(size, token), chunked=chunked)
                assert_bearer_error(response, 400, "invalid_request", HEADER_ONLY)
    assert [(r.__dict__["status"], r.__dict__["error"]) for r in refusals(caplog)] == [
        (400, "invalid_request")
    ] * 27


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_a_form_past_the_body_limit_is_413_before_the_endpoint_runs(
    api: Api, caplog: pytest.LogCaptureFixture, chunked: bool
) -> None:
    caplog.set_level(logging.INFO)
    async with nothing_changed(api) as entry:
        for body in (form(MIB + 1, api.issuer.token()), form(MIB + 1, None)):
            for method, path in endpoints(entry):
                response = await send(api, method, path, body, chunked=chunked)
                assert response.status_code == 413, (method, path, response.text)
                assert response.json() == TOO_LARGE
                assert "www-authenticate" not in response.headers
    assert [r.__dict__["status"] for r in refusals(caplog)] == [413] * 18


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_a_form_without_a_token_reaches_the_endpoint_which_ignores_or_refuses_it(
    api: Api, chunked: bool
) -> None:
    doomed, body = await new_entry(api), form(20_000, None)
    async with nothing_changed(api) as entry:
        for path, expected in [
            ("/timesheets", NOT_JSON),
            ("/timesheet", NOT_JSON),
            ("/timesheets/upload", NOT_JSON_OR_LINES),
        ]:
            response = await send(api, "POST", path, body, chunked=chunked)
            assert response.status_code == 415, (path, response.text)
            assert response.json() == expected
        response = await send(api, "PUT", f"/approvals/{entry}", body, chunked=chunked)
        assert response.status_code == 415, response.text
        assert response.json() == NOT_JSON
        for method, path in endpoints(entry)[5:]:
            response = await send(api, method, path, body, chunked=chunked)
            assert response.status_code == 200, (method, path, response.text)

    deleted = await send(api, "DELETE", f"/timesheets/{doomed}", body, chunked=chunked)
    assert deleted.status_code == 204, deleted.text
    assert await status_of(api, doomed) == 404


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_a_form_token_without_a_bearer_header_counts_as_none(api: Api, chunked: bool) -> None:
    body = form(20_000, api.issuer.token())
    async with nothing_changed(api) as entry:
        for method, path in endpoints(entry):
            response = await send(api, method, path, body, chunked=chunked, token=None)
            assert_no_credentials(response)
