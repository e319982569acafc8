"""Which login sessions sign a browser in (`grants.session_refusal`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from timesheets.authserver.grants import session_refusal
from timesheets.authserver.models import LoginSession, User

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _session(expires_at: datetime) -> LoginSession:
    return LoginSession(digest=b"d" * 32, user_id="u1", auth_time=NOW, expires_at=expires_at)


def _user(*, enabled: bool = True) -> User:
    return User(id="u1", email="ann@abc.example", name="Ann", enabled=enabled)


def test_a_live_session_of_an_enabled_user_signs_in() -> None:
    assert session_refusal(_session(NOW + timedelta(microseconds=1)), _user(), NOW) is None


def test_each_reason_a_session_signs_no_one_in() -> None:
    live = _session(NOW + timedelta(hours=8))
    assert session_refusal(None, None, NOW) == "unknown session"
    assert session_refusal(_session(NOW), _user(), NOW) == "expired session"  # at its end
    assert session_refusal(live, None, NOW) == "user deleted meanwhile"
    assert session_refusal(live, _user(enabled=False), NOW) == "user disabled"
