"""What killed processes leave in `.oboto/`: temp files of atomic writes that never finished, and lock files of
documents that no longer exist (a deleted conversation, a task id nobody has). The runner removes them at start.

A temp file goes only when it is old (no write takes that long); a lock file only while this process holds it,
so nobody is using it, and because `core.locks` re-checks after locking that its file is still the one at its
path, whoever waited on a removed lock file locks the new one instead.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from oboto.core import safe_open
from oboto.core.locks import LOCK_SUFFIX, TURN_LOCK_SUFFIX, try_lock
from oboto.core.quarantine import CORRUPT_MARK

STALE_TEMP_SECONDS = 15 * 60
"""An atomic write takes milliseconds; a temp file this old belongs to a process that was killed."""
OWN_LOCKS = frozenset({"runner.lock", "foreground.lock"})
"""Lock files that guard no document (held for a process's or a turn's whole life): never removed."""
FOREIGN_FOLDERS = frozenset({"memory", "checkpoints", "logs"})
"""Kept by Chroma, git and loggers, which clean up after themselves."""


@dataclass
class Cleaned:
    """What a cleanup removed, as paths relative to the state folder."""

    temp_files: list[str] = field(default_factory=list)
    lock_files: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.temp_files or self.lock_files)


def _is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(safe_open.TEMP_SUFFIX)


def _guarded(name: str) -> str | None:
    """The file the lock file `name` guards (None: not a lock file, or one that guards no document)."""
    if name in OWN_LOCKS or not name.endswith(LOCK_SUFFIX):
        return None
    if name.endswith(TURN_LOCK_SUFFIX):  # a conversation's turn lock is stale once the conversation is gone
        return name[: -len(TURN_LOCK_SUFFIX)] + ".jsonl"
    return name[: -len(LOCK_SUFFIX)]


def _gone(folder: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return True
    return False


def _clean_folder(path: Path, relative: str, now: float, cleaned: Cleaned) -> list[str]:
    """Remove what is stale directly in the folder `path`; returns its subfolders to visit. Only a temp file is
    stat'ed: the tasks folder holds a record and a lock file per task, 100,000 of them after a few weeks."""
    subfolders = []
    with safe_open.folder(path) as folder:
        entries = list(os.scandir(folder))
        names = {entry.name for entry in entries}
        for entry in entries:
            shown = f"{relative}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if not (relative == "" and entry.name in FOREIGN_FOLDERS) and CORRUPT_MARK not in entry.name:
                    subfolders.append(entry.name)
            elif _is_temp(entry.name):
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(info.st_mode) and now - info.st_mtime > STALE_TEMP_SECONDS:
                    os.unlink(entry.name, dir_fd=folder)
                    cleaned.temp_files.append(shown)
            elif (guarded := _guarded(entry.name)) and guarded not in names and entry.is_file(follow_symlinks=False):
                held = try_lock(path / entry.name)
                if held is None:
                    continue  # someone is using it right now
                try:
                    if _gone(folder, guarded):  # decided again while nobody can start using it
                        os.unlink(entry.name, dir_fd=folder)
                        cleaned.lock_files.append(shown)
                finally:
                    os.close(held)
    return subfolders


def clean_stale_files(state_dir: Path, *, now: float | None = None) -> Cleaned:
    """Remove stale temp and lock files everywhere in `state_dir` except the folders other programs keep."""
    cleaned = Cleaned()
    now = time.time() if now is None else now
    pending = [(state_dir, "")]
    while pending:
        folder, relative = pending.pop()
        try:
            subfolders = _clean_folder(folder, relative, now, cleaned)
        except (FileNotFoundError, safe_open.UnsafePath):
            continue  # gone meanwhile, or not something to walk into
        pending += [(folder / name, f"{relative}{name}/") for name in subfolders]
    return cleaned
