"""Where `.oboto/` could not be made read-only for a command (the kernel refused a mount namespace): the files that
decide what agents may do are compared before and after the command, and every change it made is undone — the
changed version kept aside as `<name>.rejected-<timestamp>`, the old one put back — and reported.

Only these files: oboto never writes config.toml or the profiles itself, and a change of grants.json or
stop.json that oboto made meanwhile is kept aside too, never lost.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from oboto.core import safe_open

GUARDED_FILES = ("config.toml", "grants.json", "stop.json")
GUARDED_FOLDERS = ("agents", "commands")
"""Agent profiles and custom commands: `.md` files a person writes."""
MAX_GUARDED_BYTES = 1024 * 1024
"""Settings files are small; a bigger one is compared by its size and time, and can only be moved aside."""
REJECTED_MARK = ".rejected-"


@dataclass(frozen=True)
class Seen:
    """One guarded path as it was: its bytes and mode, or what else stood there."""

    content: bytes | None
    mode: int = 0o644
    other: tuple[object, ...] | None = None
    """For what cannot be put back (a link, a folder, a huge file): enough to see that it changed."""


Snapshot = dict[str, Seen]


def _look(path: Path) -> Seen | None:
    try:
        info = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as error:
        return Seen(None, other=("unreadable", error.errno))
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_GUARDED_BYTES:
        return Seen(None, other=(stat.S_IFMT(info.st_mode), info.st_size, info.st_mtime_ns, info.st_ino))
    try:
        return Seen(safe_open.read_bytes(path), stat.S_IMODE(info.st_mode))
    except OSError as error:
        return Seen(None, other=("unreadable", error.errno))


def take_snapshot(state_dir: Path) -> Snapshot:
    """The guarded files as they are now (relative names; a folder's files as `agents/<name>`)."""
    seen: Snapshot = {}
    for name in GUARDED_FILES:
        if (found := _look(state_dir / name)) is not None:
            seen[name] = found
    for folder in GUARDED_FOLDERS:
        if (found := _look(state_dir / folder)) is None:
            continue
        try:
            names = sorted(os.listdir(state_dir / folder)) if found.other and found.other[0] == stat.S_IFDIR else []
        except OSError:
            names = []
        if found.other is None or found.other[0] != stat.S_IFDIR:
            seen[folder] = found  # a file or a link where the folder should be
        for name in names:
            if (inside := _look(state_dir / folder / name)) is not None:
                seen[f"{folder}/{name}"] = inside
    return seen


def _rejected_name(path: Path) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{path.name}{REJECTED_MARK}{stamp}"


@dataclass
class Undone:
    """What a command had changed among the guarded files, and what could not be put back."""

    changed: list[str]
    failures: list[str]


def undo_changes(state_dir: Path, before: Snapshot) -> Undone:
    """Put every guarded path back as `before` has it (a folder's entry sorts before its files, so a link in
    a folder's place is moved aside before the files are written back)."""
    after = take_snapshot(state_dir)
    undone = Undone(sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name)), [])
    for name in undone.changed:
        path = state_dir / name
        old = before.get(name)
        try:
            if os.path.lexists(path):
                safe_open.rename_here(path, _rejected_name(path))
            if old is not None and old.content is not None:
                safe_open.write_atomic(path, old.content, mode=old.mode)
        except OSError as error:
            undone.failures.append(f"{name}: {error.strerror or error}")
    return undone
