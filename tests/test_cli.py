"""The command line's own checks, before anything is served."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from timesheets.cli import app


@pytest.mark.parametrize(
    "command",
    [
        ["api", "--issuer", "http://127.0.0.1:9", "--audience", "https://api.timesheets.test"],
        ["authserver"],
    ],
)
def test_an_unknown_cpu_affinity_is_refused_naming_the_choices(
    tmp_path: Path, command: list[str]
) -> None:
    result = CliRunner().invoke(
        app, [*command, "--data-dir", str(tmp_path), "--cpu-affinity", "sometimes"], env={}
    )
    assert result.exit_code == 2
    assert "Input should be 'auto' or 'off'" in result.output
    assert list(tmp_path.iterdir()) == []
