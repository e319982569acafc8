"""Renders docs/configuration.md from the settings classes, so the two cannot drift.

Run `python -m timesheets.configuration_doc > docs/configuration.md`; a test checks it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_settings import BaseSettings

from timesheets.settings import ApiSettings, AuthServerSettings

SERVICES: list[tuple[str, type[BaseSettings]]] = [
    ("Authorization server (`timesheets authserver`)", AuthServerSettings),
    ("Timesheets API (`timesheets api`)", ApiSettings),
]


def _default(field: Any) -> str:
    if field.default_factory is not None:
        return "./.timesheets (or TIMESHEETS_DATA_DIR)"
    value = field.default
    if value in ("", None):
        return "—"
    return json.dumps(value) if isinstance(value, list) else str(value)


def render() -> str:
    """The configuration reference as Markdown."""
    lines = [
        "# Configuration",
        "",
        "Generated from `src/timesheets/settings.py` by",
        "`python -m timesheets.configuration_doc`; a test keeps it current.",
        "Each setting comes from a command-line flag where one exists, else from the",
        "environment variable, else from the default. Lists are given as JSON",
        "(`TIMESHEETS_API_CORS_ORIGINS='[\"http://127.0.0.1:3000\"]'`).",
        "",
    ]
    for title, settings in SERVICES:
        prefix = settings.model_config.get("env_prefix", "")
        lines += [f"## {title}", "", "| variable | default | meaning |", "| --- | --- | --- |"]
        for name, field in settings.model_fields.items():
            variable = f"{prefix}{name}".upper()
            lines.append(f"| `{variable}` | `{_default(field)}` | {field.description or ''} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
