"""How the file tools touch a workspace file once its path was checked: through `core.safe_open`, so a folder
swapped for a symlink between the check and the use makes the call fail instead of reaching outside."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from oboto.agent.tools.base import ToolError
from oboto.agent.tools.workspace_paths import display_path
from oboto.core import safe_open

MAX_READ_BYTES = 1024 * 1024
MAX_WRITE_BYTES = 1024 * 1024
BINARY_SNIFF_BYTES = 8192
READ_CHUNK = 64 * 1024


def human_size(size: int) -> str:
    """`size` bytes in a short human form: 512 B, 3.4 KB, 1.2 MB."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def looks_binary(head: bytes) -> bool:
    return b"\x00" in head[:BINARY_SNIFF_BYTES]


@contextmanager
def no_escape(root: Path, path: Path, verb: str) -> Iterator[None]:
    """Turn a link (or a folder) met on the way to `path` into the tool's refusal."""
    try:
        yield
    except safe_open.UnsafePath as error:
        where = display_path(root, Path(error.filename))
        raise ToolError(f"cannot {verb} {display_path(root, path)}: {where} {error.strerror}; "
                        "it changed while being used, or is not a regular file") from None


@contextmanager
def opened(root: Path, path: Path) -> Iterator[BinaryIO]:
    """The checked file `path` (already resolved inside `root`) open for reading, reached without links."""
    real_root = root.resolve()
    with no_escape(root, path, "read"):
        fd = safe_open.open_file(path, os.O_RDONLY, base=real_root)
    with os.fdopen(fd, "rb") as handle:
        yield handle


def read_bytes(root: Path, path: Path) -> bytes:
    with opened(root, path) as handle:
        return handle.read()


def read_text_if_small(root: Path, path: Path) -> str | None:
    """The UTF-8 text of a file small enough to compare with what replaces it; None for binary or big files."""
    try:
        with opened(root, path) as handle:
            if os.fstat(handle.fileno()).st_size > MAX_WRITE_BYTES:
                return None
            raw = handle.read()
    except (OSError, ToolError):
        return None
    if looks_binary(raw):
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def write_bytes(root: Path, path: Path, data: bytes, *, mode: int, create_dirs: bool) -> None:
    """Replace the checked file `path` atomically: the temp file is made beside it, inside the workspace."""
    with no_escape(root, path, "write"):
        safe_open.write_atomic(path, data, base=root.resolve(), mode=mode, create_dirs=create_dirs)


def read_lines(handle: BinaryIO, first: int, count: int) -> tuple[list[str], int, bool]:
    """Up to `count` lines from line `first`, streamed; also the line count and whether the 1 MB cap cut it short."""
    kept: list[bytes] = []
    partial: list[bytes] = []
    budget = MAX_READ_BYTES
    cut_short = False
    newlines = 0
    last_byte = b""
    line_no = 1
    while line_no < first + count:
        # A bounded readline keeps one enormous line from being loaded whole.
        piece = handle.readline(READ_CHUNK)
        if not piece:
            break
        last_byte = piece[-1:]
        if line_no >= first:
            budget -= len(piece)
            if budget < 0:
                cut_short = True
                partial = []
                newlines += piece.count(b"\n")
                break
            partial.append(piece)
        if last_byte == b"\n":
            newlines += 1
            line_no += 1
            if partial:
                kept.append(b"".join(partial))
                partial = []
    if partial:
        kept.append(b"".join(partial))
    for block in iter(lambda: handle.read(1024 * 1024), b""):
        newlines += block.count(b"\n")
        last_byte = block[-1:]
    total = newlines + (1 if last_byte not in (b"", b"\n") else 0)
    return [line.decode("utf-8", "replace") for line in kept], total, cut_short
