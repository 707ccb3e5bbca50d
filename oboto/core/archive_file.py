"""Appending to an archive file (one JSON object per line, append-only) so a crash never leaves a torn entry
that counts: the lines go in one write, fsynced with their folder; a last line a crash cut short is cut off by
the next writer (readers skip a line without its newline)."""

from __future__ import annotations

import os
from pathlib import Path

from typing import Callable

from oboto.core import safe_open
from oboto.core.events import Event, WorkspaceWarning
from oboto.core.locks import locked

_TAIL_BLOCK = 65536


def append_lines(path: Path, lines: list[bytes], report: Callable[[Event], None], *, entry: str) -> None:
    """Append `lines` durably under `<path>.lock`. A damaged lock file moved aside, and a torn tail cut off (the
    `entry` it held, a task or a notice, is still live), are handed to `report`."""
    with locked(path) as moved_lock:
        fd = safe_open.open_file(path, os.O_RDWR | os.O_CREAT, 0o600, create_dirs=True)
        try:
            torn = _cut_torn_tail(fd)
            os.lseek(fd, 0, os.SEEK_END)
            view = memoryview(b"".join(lines))
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    safe_open.fsync_folder(path.parent)
    if moved_lock is not None:
        report(moved_lock)
    if torn:
        report(WorkspaceWarning(message=f"{path.name}: the last {torn} bytes were an archive entry a crash cut "
                                        f"short; they were dropped (the {entry} is still live)"))


def _cut_torn_tail(fd: int) -> int:
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return 0
    end = size
    while end > 0:  # back to the last whole line
        start = max(0, end - _TAIL_BLOCK)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    os.ftruncate(fd, end)
    os.fsync(fd)
    return size - end
