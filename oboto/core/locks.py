"""Advisory file locks shared by every oboto process on a workspace.

Lock files are opened without following links (a damaged one is moved aside), and a lock counts only
while its file is still the one at its path: the runner removes stale lock files at start while holding
them, so whoever waited on a removed file locks the new one instead.
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from oboto.core import safe_open
from oboto.core.quarantine import open_repairing

if TYPE_CHECKING:
    from oboto.core.events import FileQuarantined

LOCK_SUFFIX = ".lock"
TURN_LOCK_SUFFIX = ".turn.lock"
"""`conversations/<name>.turn.lock`: held for one turn in the conversation whose history is `<name>.jsonl`."""


def lock_file(path: Path) -> Path:
    """The lock file that guards `path`: `<path>.lock`."""
    return path.with_name(path.name + LOCK_SUFFIX)


def open_locked(path: Path, operation: int) -> tuple[int | None, FileQuarantined | None]:
    """flock the file at `path` (made when missing); (None, …) when LOCK_NB and someone else holds it."""
    moved = None
    while True:
        fd, repaired = open_repairing(path, os.O_RDWR | os.O_CREAT)
        moved = moved or repaired
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            os.close(fd)
            return None, moved
        except BaseException:
            os.close(fd)
            raise
        if safe_open.still_at_path(fd, path):
            return fd, moved
        os.close(fd)  # removed while we waited for it: lock the file that is there now


_held = threading.local()


def locks_held_here() -> int:
    """How many `locked()` blocks this thread is inside (the durable writer must not be waited for meanwhile)."""
    return getattr(_held, "count", 0)


@contextmanager
def locked(path: Path) -> Iterator[FileQuarantined | None]:
    """Hold an exclusive lock on `<path>.lock` for a read-modify-write of `path` (blocks briefly).

    Yields the event of a damaged lock file that had to be moved aside, if there was one, for the caller to publish.
    """
    fd, moved = open_locked(lock_file(path), fcntl.LOCK_EX)
    assert fd is not None
    _held.count = locks_held_here() + 1
    try:
        yield moved
    finally:
        _held.count -= 1
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def try_lock(path: Path) -> int | None:
    """An fd holding the lock file `path` exclusively, or None when someone holds it; never makes or moves it."""
    try:
        fd = safe_open.open_file(path, os.O_RDWR)
    except (FileNotFoundError, safe_open.UnsafePath):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if not safe_open.still_at_path(fd, path):
        os.close(fd)
        return None
    return fd


class ProcessLock:
    """A non-blocking exclusive lock held for as long as this process wants it (the runner lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.moved: FileQuarantined | None = None
        """A damaged lock file moved aside by the last `try_acquire`, for the caller to report."""

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd, self.moved = open_locked(self.path, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if fd is None:
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def holder_pid(self) -> int | None:
        """The pid written by the current holder, or None when nobody holds the lock."""
        if self._fd is not None:
            return os.getpid()
        try:
            fd = safe_open.open_file(self.path, os.O_RDONLY)
        except (FileNotFoundError, safe_open.UnsafePath):
            return None  # a link or a folder there is held by nobody: oboto never locks through one
        except PermissionError:
            return -1
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                text = os.pread(fd, 32, 0).decode(errors="replace").strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)
