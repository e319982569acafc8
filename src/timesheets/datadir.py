"""Files `timesheets up` keeps in the data directory: the generated key-encryption key and
private JSON documents such as bootstrap.json."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any


def key_file(data_dir: Path) -> Path:
    """Where `timesheets up` keeps its generated key-encryption key."""
    return data_dir / "key-encryption.key"


def ensure_key_file(data_dir: Path) -> str:
    """The data directory's key-encryption key, generated (mode 0600) on first use."""
    path = key_file(data_dir)
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def write_private_json(path: Path, document: dict[str, Any]) -> None:
    """Write JSON readable only by the owner, replacing the file atomically."""
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)
