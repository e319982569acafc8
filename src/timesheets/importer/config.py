"""The job's configuration: flags, then environment, then a config file or bootstrap.json.

The client secret is read from the environment (`TIMESHEETS_CLIENT_SECRET`), a config
file or bootstrap.json, never from a flag, so it never shows in process listings.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from timesheets.importer.errors import ConfigurationError

ENV = {
    "issuer": "TIMESHEETS_ISSUER",
    "audience": "TIMESHEETS_AUDIENCE",
    "api_url": "TIMESHEETS_API_URL",
    "client_id": "TIMESHEETS_CLIENT_ID",
    "client_secret": "TIMESHEETS_CLIENT_SECRET",
}


@dataclass(frozen=True)
class ImportConfig:
    """Where to get tokens and where to upload."""

    issuer: str
    audience: str
    api_url: str
    client_id: str
    client_secret: str
    auth_method: str = "client_secret_post"
    batch_size: int = 1000

    def __repr__(self) -> str:
        # Never print the secret.
        return f"ImportConfig(issuer={self.issuer!r}, client_id={self.client_id!r})"


def _from_bootstrap(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    job = document.get("import_job", {})
    return {
        "issuer": document.get("issuer"),
        "audience": document.get("audience"),
        "api_url": document.get("api_url"),
        "client_id": job.get("client_id"),
        "client_secret": job.get("client_secret"),
    }


def load_config(
    *,
    flags: dict[str, Any],
    config_file: Path | None = None,
    bootstrap: Path | None = None,
    environ: dict[str, str] | None = None,
) -> ImportConfig:
    """Merge the sources (flags win) and check that nothing is missing."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {}
    try:
        if bootstrap is not None:
            values.update({k: v for k, v in _from_bootstrap(bootstrap).items() if v})
        if config_file is not None:
            values.update(tomllib.loads(config_file.read_text()))
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"cannot read configuration: {error}") from None
    values.update({key: environ[name] for key, name in ENV.items() if environ.get(name)})
    values.update({k: v for k, v in flags.items() if v is not None})
    missing = [ENV[key] for key in ENV if not values.get(key)]
    if missing:
        raise ConfigurationError(f"missing configuration: {', '.join(missing)}")
    unknown = set(values) - {*ENV, "auth_method", "batch_size"}
    if unknown:
        raise ConfigurationError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
    if values.get("auth_method", "client_secret_post") not in (
        "client_secret_post",
        "client_secret_basic",
    ):
        raise ConfigurationError("auth_method must be client_secret_post or client_secret_basic")
    try:
        batch_size = int(values.get("batch_size", 1000))
    except (TypeError, ValueError):
        batch_size = 0
    if not 1 <= batch_size <= 1000:
        raise ConfigurationError("batch_size must be between 1 and 1000")
    return ImportConfig(**{**values, "batch_size": batch_size})
