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
from typing import Iterator


class ForegroundActivity:
    def __init__(self, lock_path: Path) -> None:
        self.lock_path = lock_path

    def touch(self) -> None:
        """Record that the person just did something."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        self.lock_path.touch()
        os.utime(self.lock_path)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Mark the foreground busy for the duration of the person's turn."""
        self.touch()
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            self.touch()

    def is_busy(self) -> bool:
        try:
            fd = os.open(self.lock_path, os.O_RDWR)
        except FileNotFoundError:
            return False
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
            return max(0.0, time.time() - self.lock_path.stat().st_mtime)
        except FileNotFoundError:
            return float("inf")
