"""An append-only JSONL file rotated at a size limit (`file`, `file.1` … `file.N`), read back oldest first.

Every open and rename goes through `core.safe_open`: a link in the log's place is never appended to or read
through; a damaged log is moved aside by the writer, and skipped (and reported) by readers.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, Iterator

import orjson

from oboto.core import safe_open
from oboto.core.events import FileQuarantined, WorkspaceWarning
from oboto.core.quarantine import describe_unusable, open_repairing

DamageReport = Callable[[WorkspaceWarning], None]


class RotatingJsonl:
    """One JSON record per line; when the file passes `max_bytes` it becomes `.1` and older ones shift up."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int, fsync: bool) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.fsync = fsync
        self._lock = threading.Lock()
        self._kept: tuple[int, tuple[int, int], weakref.finalize] | None = None
        """The log's fd (closed with this object), its (device, inode), and what closes it."""

    def append(self, record: dict[str, Any]) -> FileQuarantined | None:
        """Append `record`; returns the event of a damaged log that was moved aside first, for the caller to publish."""
        return self.append_many([record])

    def append_many(self, records: list[dict[str, Any]]) -> FileQuarantined | None:
        """Append `records` in one write (one open for a burst); the damaged log moved aside first, if any."""
        lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
        with self._lock:
            size, moved = self._append(lines)
            if size > self.max_bytes:
                self._forget_fd()
                self._rotate()
        return moved

    def _append(self, data: bytes) -> tuple[int, FileQuarantined | None]:
        """Append through the fd kept from the last append while it is still the file at the path (one stat
        instead of a walk and an open per event); else open it again safely. Returns (about the new size, event)."""
        if self._kept is not None:
            fd, identity, _closer = self._kept
            try:
                now = os.stat(self.path, follow_symlinks=False)
            except OSError:
                now = None
            if now is not None and (now.st_dev, now.st_ino) == identity:
                os.write(fd, data)
                if self.fsync:
                    os.fsync(fd)
                return now.st_size + len(data), None
            self._forget_fd()  # rotated, removed or replaced since: never append to what left the path
        fd, moved = open_repairing(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, data)
            if self.fsync:
                os.fsync(fd)
            info = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        self._kept = (fd, (info.st_dev, info.st_ino), weakref.finalize(self, os.close, fd))
        return info.st_size, moved

    def _forget_fd(self) -> None:
        if self._kept is not None:
            self._kept[2]()
            self._kept = None

    def _rotate(self) -> None:
        with safe_open.parent_folder(self.path) as (folder, name):
            for index in range(self.backups - 1, 0, -1):
                try:
                    os.replace(f"{name}.{index}", f"{name}.{index + 1}", src_dir_fd=folder, dst_dir_fd=folder)
                except FileNotFoundError:
                    continue
            os.replace(name, f"{name}.1", src_dir_fd=folder, dst_dir_fd=folder)

    def _backup(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")

    def files(self) -> list[Path]:
        """The existing files (whatever stands there, links too), oldest first."""
        candidates = [self._backup(index) for index in range(self.backups, 0, -1)] + [self.path]
        return [path for path in candidates if os.path.lexists(path)]

    def records(self, report: DamageReport | None = None) -> Iterator[dict[str, Any]]:
        """Every readable record, oldest first; a torn or foreign line is skipped, and so is a file that is a
        link or no file at all (said to `report`)."""
        for path in self.files():
            try:
                fd = safe_open.open_file(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            except OSError as error:
                if report is not None:
                    report(WorkspaceWarning(message=f"{path} {describe_unusable(error)}; it was not read"))
                continue
            skipped = 0
            with os.fdopen(fd, "rb") as handle:
                for line in handle:
                    try:
                        record = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        record = None
                    if isinstance(record, dict):
                        yield record
                    elif line.strip():
                        skipped += 1
            if skipped and report is not None:
                report(WorkspaceWarning(message=f"{path}: {skipped} unreadable line(s) skipped"))
