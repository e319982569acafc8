"""The authorization server's issuer rules (RFC 8414 §2)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from timesheets.settings import PAGE_SIZE_LIMIT, ApiSettings, AuthServerSettings, is_loopback

KEY = "k" * 32


@pytest.mark.parametrize(
    "issuer",
    [
        "https://login.abc.example",
        "https://login.abc.example/tenant",
        "http://127.0.0.1:9000",
        "http://127.8.9.10:9000",
        "http://localhost:9000",
        "http://[::1]:9000",
    ],
)
def test_https_or_loopback_http_issuers_are_taken(issuer: str) -> None:
    assert AuthServerSettings(issuer=issuer, key_encryption_key=KEY).issuer == issuer


@pytest.mark.parametrize(
    "issuer",
    [
        "https://",
        "https:///path",
        "ftp://login.abc.example",
        "login.abc.example",
        "https://login.abc.example/?tenant=1",
        "https://login.abc.example/#x",
    ],
)
def test_an_issuer_that_is_not_an_https_url_with_a_host_is_refused(issuer: str) -> None:
    with pytest.raises(ValidationError, match="issuer must be an https URL with a host"):
        AuthServerSettings(issuer=issuer, key_encryption_key=KEY)


@pytest.mark.parametrize(
    "issuer", ["http://auth.abc.example", "http://10.0.0.5:9000", "http://localhost.evil.example"]
)
def test_plain_http_off_loopback_is_refused_outside_development(issuer: str) -> None:
    with pytest.raises(ValidationError, match="plain http on a host that is not loopback"):
        AuthServerSettings(issuer=issuer, key_encryption_key=KEY)
    assert AuthServerSettings(issuer=issuer, dev=True).issuer == issuer


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("localhost.evil.example")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("")


@pytest.mark.parametrize(
    ("given", "level"),
    [
        ("FULL", "FULL"),
        ("full", "FULL"),
        (" Extra ", "EXTRA"),
        ("normal", "NORMAL"),
        ("off", "OFF"),
        ("0", "OFF"),
        ("1", "NORMAL"),
        (" 2", "FULL"),
        ("3", "EXTRA"),
    ],
)
def test_sqlite_synchronous_takes_sqlites_level_names_in_any_case_or_numbers(
    given: str, level: str
) -> None:
    api = ApiSettings(issuer="https://id.example", audience="api", sqlite_synchronous=given)
    auth = AuthServerSettings(
        issuer="https://id.example", key_encryption_key=KEY, sqlite_synchronous=given
    )
    assert (api.sqlite_synchronous, auth.sqlite_synchronous) == (level, level)


def test_sqlite_synchronous_is_full_by_default() -> None:
    api = ApiSettings(issuer="https://id.example", audience="api")
    auth = AuthServerSettings(issuer="https://id.example", key_encryption_key=KEY)
    assert (api.sqlite_synchronous, auth.sqlite_synchronous) == ("FULL", "FULL")


@pytest.mark.parametrize("given", ["FUL", "on", "yes", "true", "4", "-1", "FULL; PRAGMA x", ""])
def test_any_other_sqlite_synchronous_value_is_refused(given: str) -> None:
    """SQLite reads each of these as NORMAL (or fails), silently giving up durability."""
    with pytest.raises(ValidationError, match="'OFF', 'NORMAL', 'FULL' or 'EXTRA'"):
        ApiSettings(issuer="https://id.example", audience="api", sqlite_synchronous=given)
    with pytest.raises(ValidationError, match="'OFF', 'NORMAL', 'FULL' or 'EXTRA'"):
        AuthServerSettings(
            issuer="https://id.example", key_encryption_key=KEY, sqlite_synchronous=given
        )


def test_the_page_size_may_be_lowered_but_not_raised_past_what_limit_takes() -> None:
    """A larger page_size_max would be ignored: `limit` itself is refused past 200."""
    api = ApiSettings(issuer="https://id.example", audience="api", page_size_max=PAGE_SIZE_LIMIT)
    assert api.page_size_max == PAGE_SIZE_LIMIT == 200
    with pytest.raises(ValidationError, match="less than or equal to 200"):
        ApiSettings(issuer="https://id.example", audience="api", page_size_max=201)
