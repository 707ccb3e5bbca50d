"""An append-only JSONL file rotated at a size limit (`file`, `file.1` … `file.N`), read back oldest first."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Iterator

import orjson

from oboto.core.atomic import append_line


class RotatingJsonl:
    """One JSON record per line; when the file passes `max_bytes` it becomes `.1` and older ones shift up."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int, fsync: bool) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.fsync = fsync
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record)
        with self._lock:
            if append_line(self.path, line, fsync=self.fsync) > self.max_bytes:
                self._rotate()

    def _rotate(self) -> None:
        for index in range(self.backups - 1, 0, -1):
            older = self._backup(index)
            if older.exists():
                os.replace(older, self._backup(index + 1))
        os.replace(self.path, self._backup(1))

    def _backup(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")

    def files(self) -> list[Path]:
        """The existing files, oldest first."""
        candidates = [self._backup(index) for index in range(self.backups, 0, -1)] + [self.path]
        return [path for path in candidates if path.is_file()]

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable record, oldest first; a torn or foreign line is skipped."""
        for path in self.files():
            try:
                with open(path, "rb") as handle:
                    for line in handle:
                        try:
                            record = orjson.loads(line)
                        except orjson.JSONDecodeError:
                            continue
                        if isinstance(record, dict):
                            yield record
            except OSError:
                continue
