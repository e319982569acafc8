"""One run at a time per state directory: an exclusive lock, held for the whole run.

Two runs on one state would each clear the other's rows and problems, so one of them
could report nothing it rejected and record its input as complete.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from timesheets.importer.errors import TemporaryFailure


class RunLock:
    """An exclusive `flock` on a file of the state directory, taken without waiting."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise TemporaryFailure(
                f"another import is running with the state directory {path.parent}; "
                "run again when it has finished"
            ) from None
        self._fd: int | None = fd

    def release(self) -> None:
        """Let the next run start (closing the file releases the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
