"""The admin CLI's copies of defaults (kept so the CLI starts without SQLAlchemy) agree."""

from timesheets.authserver import admin, cli_admin


def test_cli_defaults_match_the_rules() -> None:
    assert cli_admin.DEFAULT_TOKEN_LIFETIME == admin.DEFAULT_TOKEN_LIFETIME
