"""Refreshing (RFC 6749 §6): the client, the lifetimes, and the scope rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from timesheets.authserver.oauth.errors import InvalidGrant, InvalidScope
from timesheets.authserver.oauth.rfc6749_refresh import RefreshView, check_refresh

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
TOKEN = RefreshView(
    "spa", ("openid", "offline_access", "read"), NOW + timedelta(days=1), NOW + timedelta(hours=1)
)


def test_no_scope_means_the_grants() -> None:
    assert check_refresh(TOKEN, client_id="spa", requested=None, now=NOW) == TOKEN.scopes


def test_fewer_scopes_may_be_asked_for() -> None:
    assert check_refresh(TOKEN, client_id="spa", requested=("read",), now=NOW) == ("read",)


def test_a_scope_beyond_the_grant_is_invalid_scope() -> None:
    with pytest.raises(InvalidScope, match="write"):
        check_refresh(TOKEN, client_id="spa", requested=("read", "write"), now=NOW)


def test_another_clients_token_is_invalid_grant() -> None:
    with pytest.raises(InvalidGrant, match="another client"):
        check_refresh(TOKEN, client_id="other", requested=None, now=NOW)


@pytest.mark.parametrize("later", [timedelta(hours=1), timedelta(days=1), timedelta(days=2)])
def test_past_either_lifetime_it_is_expired(later: timedelta) -> None:
    with pytest.raises(InvalidGrant, match="expired"):
        check_refresh(TOKEN, client_id="spa", requested=None, now=NOW + later)
