"""The systemd units `docs/import.md` gives for running the job load as written."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "import.md"
ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def verify(*units: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def documented_units(folder: Path) -> tuple[Path, Path]:
    """The doc's service and timer, the job's path swapped for an executable that exists
    here (verify checks that ExecStart's program does)."""
    service, timer = re.findall(r"```ini\n(.*?)```", DOC.read_text(), re.S)
    assert "Type=" in service
    assert "[Timer]" in timer
    service = service.replace("/opt/timesheets/.venv/bin/timesheets", sys.executable)
    paths = folder / "timesheets-import.service", folder / "timesheets-import.timer"
    for path, text in zip(paths, (service, timer), strict=True):
        path.write_text(text)
    return paths


def test_the_documented_service_and_timer_load(tmp_path: Path) -> None:
    paths = documented_units(tmp_path)
    result = verify(*paths)
    assert result.returncode == 0, result.stderr
    assert "timesheets-import" not in result.stderr, result.stderr


def test_a_unit_systemd_refuses_is_caught(tmp_path: Path) -> None:
    """The check can fail: the same service as `oneshot` is refused for its restart rule."""
    service, _timer = documented_units(tmp_path)
    text = service.read_text()
    assert "RestartForceExitStatus=75" in text
    service.write_text(re.sub(r"(?m)^Type=\w+$", "Type=oneshot", text))
    result = verify(service)
    assert result.returncode != 0
    assert "RestartForceExitStatus" in result.stderr, result.stderr
