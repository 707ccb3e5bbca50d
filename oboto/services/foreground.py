"""Whether the person's own turn is running, visible to every process on the workspace.

A turn holds a shared flock on `.oboto/foreground.lock`; anyone can test it without blocking, and a
crashed turn releases it by itself. The file's mtime is when the person last did something.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from oboto.core import safe_open
from oboto.core.events import Event
from oboto.core.quarantine import open_repairing


class ForegroundActivity:
    def __init__(self, lock_path: Path, report: Callable[[Event], None] | None = None) -> None:
        self.lock_path = lock_path
        self._report = report
        """Hears of a damaged lock file that was moved aside."""

    def _open(self) -> int:
        fd, moved = open_repairing(self.lock_path, os.O_RDWR | os.O_CREAT)
        if moved is not None and self._report is not None:
            self._report(moved)
        return fd

    def touch(self) -> None:
        """Record that the person just did something."""
        fd = self._open()
        try:
            os.utime(fd)
        finally:
            os.close(fd)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Mark the foreground busy for the duration of the person's turn."""
        self.touch()
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            self.touch()

    def is_busy(self) -> bool:
        try:
            fd = safe_open.open_file(self.lock_path, os.O_RDWR)
        except (FileNotFoundError, safe_open.UnsafePath):
            return False  # nobody holds a lock through a link or a folder: oboto never opens one
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def idle_seconds(self) -> float:
        try:
            return max(0.0, time.time() - os.stat(self.lock_path, follow_symlinks=False).st_mtime)
        except FileNotFoundError:
            return float("inf")
