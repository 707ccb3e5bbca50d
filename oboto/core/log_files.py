"""Diagnostic logs under `.oboto/logs/`, written like every state file: never through a link in a log's place."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO

from oboto.core.quarantine import open_repairing


def open_log(path: Path) -> IO[str]:
    """The log at `path` open for appending text; a link or a folder in its place is moved aside first."""
    fd, _moved = open_repairing(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)  # a diagnostic log has nobody to tell
    return os.fdopen(fd, "a", encoding="utf-8", errors="replace")


class StateLogHandler(logging.FileHandler):
    """logging.FileHandler opening its file through `open_log` (FileHandler itself follows links)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)

    def _open(self) -> IO[str]:
        return open_log(Path(self.baseFilename))
