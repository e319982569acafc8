"""The job's configuration: flags over environment over a config file or bootstrap.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from timesheets.importer.config import ENV, ImportConfig, load_config
from timesheets.importer.errors import ConfigurationError

SECRET = "s3cr3t-value-that-must-never-show"
NO_FLAGS = {
    "issuer": None,
    "audience": None,
    "api_url": None,
    "client_id": None,
    "batch_size": None,
}
FULL_ENV = {
    "TIMESHEETS_ISSUER": "https://env.example",
    "TIMESHEETS_AUDIENCE": "https://api.env.example",
    "TIMESHEETS_API_URL": "https://timesheets.env.example",
    "TIMESHEETS_CLIENT_ID": "env-client",
    "TIMESHEETS_CLIENT_SECRET": "env-secret",
}


def write_bootstrap(tmp_path: Path) -> Path:
    path = tmp_path / "bootstrap.json"
    path.write_text(
        json.dumps(
            {
                "issuer": "http://127.0.0.1:19000",
                "audience": "https://api.timesheets.local",
                "api_url": "http://127.0.0.1:18000",
                "web_url": "http://127.0.0.1:13000",
                "import_job": {"client_id": "boot-client", "client_secret": "boot-secret"},
                "reports_client": {"client_id": "reports", "client_secret": "other"},
            }
        )
    )
    return path


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "import.toml"
    path.write_text(text)
    return path


def test_everything_from_the_environment() -> None:
    config = load_config(flags=NO_FLAGS, environ=FULL_ENV)
    assert config == ImportConfig(
        issuer="https://env.example",
        audience="https://api.env.example",
        api_url="https://timesheets.env.example",
        client_id="env-client",
        client_secret="env-secret",
    )
    assert (config.auth_method, config.batch_size) == ("client_secret_post", 1000)


def test_everything_from_bootstrap_json(tmp_path: Path) -> None:
    config = load_config(flags=NO_FLAGS, bootstrap=write_bootstrap(tmp_path), environ={})
    assert (config.issuer, config.audience, config.api_url) == (
        "http://127.0.0.1:19000",
        "https://api.timesheets.local",
        "http://127.0.0.1:18000",
    )
    assert (config.client_id, config.client_secret) == ("boot-client", "boot-secret")


def test_flags_win_over_environment_which_wins_over_files(tmp_path: Path) -> None:
    config_file = write_toml(
        tmp_path,
        'issuer = "https://file.example"\naudience = "https://api.file.example"\n'
        'client_id = "file-client"\nauth_method = "client_secret_basic"\nbatch_size = 50\n',
    )
    config = load_config(
        flags=NO_FLAGS | {"issuer": "https://flag.example", "batch_size": 20},
        config_file=config_file,
        bootstrap=write_bootstrap(tmp_path),
        environ={"TIMESHEETS_AUDIENCE": "https://api.env.example"},
    )
    assert config.issuer == "https://flag.example"  # flag over file and bootstrap
    assert config.audience == "https://api.env.example"  # environment over file
    assert config.client_id == "file-client"  # config file over bootstrap
    assert config.api_url == "http://127.0.0.1:18000"  # bootstrap when nothing else says
    assert config.client_secret == "boot-secret"
    assert config.auth_method == "client_secret_basic"
    assert config.batch_size == 20


def test_the_secret_from_the_environment_wins_over_files(tmp_path: Path) -> None:
    config = load_config(
        flags=NO_FLAGS,
        config_file=write_toml(tmp_path, 'client_secret = "file-secret"\n'),
        bootstrap=write_bootstrap(tmp_path),
        environ={"TIMESHEETS_CLIENT_SECRET": SECRET},
    )
    assert config.client_secret == SECRET


def test_empty_environment_variables_do_not_count(tmp_path: Path) -> None:
    config = load_config(
        flags=NO_FLAGS,
        bootstrap=write_bootstrap(tmp_path),
        environ={"TIMESHEETS_ISSUER": "", "TIMESHEETS_CLIENT_SECRET": ""},
    )
    assert config.issuer == "http://127.0.0.1:19000"
    assert config.client_secret == "boot-secret"


def test_missing_values_are_named_by_their_environment_variables() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config(
            flags=NO_FLAGS | {"issuer": "https://flag.example"},
            environ={"TIMESHEETS_CLIENT_ID": "c"},
        )
    assert str(caught.value) == (
        "missing configuration: TIMESHEETS_AUDIENCE, TIMESHEETS_API_URL, TIMESHEETS_CLIENT_SECRET"
    )
    assert caught.value.exit_code == 78


def test_nothing_at_all_names_every_variable() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config(flags=NO_FLAGS, environ={})
    for name in ENV.values():
        assert name in str(caught.value)


def test_a_bootstrap_without_the_import_job_lacks_its_credentials(tmp_path: Path) -> None:
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps({"issuer": "http://i", "audience": "a", "api_url": "http://a"}))
    with pytest.raises(ConfigurationError, match="TIMESHEETS_CLIENT_ID, TIMESHEETS_CLIENT_SECRET"):
        load_config(flags=NO_FLAGS, bootstrap=path, environ={})


def test_the_secret_never_shows_in_the_repr() -> None:
    config = load_config(flags=NO_FLAGS, environ=FULL_ENV | {"TIMESHEETS_CLIENT_SECRET": SECRET})
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
    assert SECRET not in f"{config!r} {[config]} { ({'config': config}) }"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('client_secret_file = "/etc/secret"\n', "unknown configuration keys: client_secret_file"),
        ('auth_method = "private_key_jwt"\n', "auth_method must be"),
        ("batch_size = 0\n", "batch_size must be between 1 and 1000"),
        ("batch_size = 1001\n", "batch_size must be between 1 and 1000"),
        ('batch_size = "lots"\n', "batch_size"),
        ("issuer = \n", "cannot read configuration"),
    ],
)
def test_invalid_config_files_are_configuration_errors(
    tmp_path: Path, toml: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_config(flags=NO_FLAGS, config_file=write_toml(tmp_path, toml), environ=FULL_ENV)


def test_unreadable_files_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read configuration"):
        load_config(flags=NO_FLAGS, config_file=tmp_path / "absent.toml", environ=FULL_ENV)
    broken = tmp_path / "bootstrap.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigurationError, match="cannot read configuration"):
        load_config(flags=NO_FLAGS, bootstrap=broken, environ=FULL_ENV)


def test_the_command_has_no_secret_flag() -> None:
    timesheets = str(Path(sys.executable).with_name("timesheets"))
    result = subprocess.run(
        [timesheets, "import", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "--client-id" in result.stdout
    assert "--client-secret" not in result.stdout
    assert "--secret" not in result.stdout
