"""Crash-safe file writes: atomic replace for JSON documents, fsynced appends for JSONL — never through a link."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from oboto.core import durable, safe_open


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in `folder` durable."""
    safe_open.fsync_folder(folder)


def atomic_write_bytes(path: Path, data: bytes, *, base: Path | None = None, mode: int = 0o600) -> None:
    """Write `data` to `path` so that a crash leaves either the old or the new file, never a torn one.

    Folders on the way are made when missing; nothing below `base` (see `safe_open`) is followed if it is a link.
    Inside a writer job (`core.durable`) the replace is staged and durable when the job's future resolves.
    """
    durable.replace_file(path, data, base=base, mode=mode)


def dumps_json(document: Any) -> bytes:
    """Serialise for humans too: indented, with a trailing newline."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"


def atomic_write_json(path: Path, document: Any) -> None:
    atomic_write_bytes(path, dumps_json(document))


def append_line(path: Path, data: bytes, *, fsync: bool = True) -> int:
    """Append one line in a single write (O_APPEND keeps concurrent writers' lines whole); returns the new size."""
    if not data.endswith(b"\n"):
        data += b"\n"
    return safe_open.append(path, data, fsync=fsync)
