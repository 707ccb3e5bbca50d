"""Damaged state files: what is wrong in plain words, moved aside as `<file>.corrupt-<timestamp>` (never deleted,
never written over), and the event that tells the person — or, where it cannot be moved, why not.

Damage is anything that stops oboto using the file as it is: a folder, a symbolic link or a device in its
place, a file it may not read or write, or content that does not parse or validate.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from oboto.core import safe_open

if TYPE_CHECKING:  # made only when a file is moved aside: the warm CLI client never loads the event models
    from oboto.core.events import FileQuarantined

CORRUPT_MARK = ".corrupt-"


class DamagedState(Exception):
    """A damaged state file that could not be moved aside, or a reader that refuses one; the message says which,
    why, and what to do. Not bad input: the CLI exits 1 on it."""


def quarantine_name(path: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return path.with_name(f"{path.name}{CORRUPT_MARK}{stamp}")


def describe_unusable(error: OSError) -> str:
    """Why a file could not be opened, for the person: `is a symbolic link …`, `cannot be read (…)`."""
    if isinstance(error, safe_open.UnsafePath):
        return str(error.strerror)
    if isinstance(error, PermissionError):
        return "cannot be opened (permission denied)"
    return f"cannot be opened ({error.strerror or error})"


def damaged_path(error: OSError) -> Path | None:
    """What to move aside after an open failed because of what stands there (a link, a folder, a file oboto may
    not open): the file, or a folder on its way. Only ever something inside a state folder: a workspace or home
    folder oboto may not read is the person's to fix, never moved. None when the failure is no such damage."""
    if not isinstance(error, (safe_open.UnsafePath, PermissionError)) or not error.filename:
        return None
    path = Path(error.filename)
    return path if safe_open.OBOTO_DIR_NAME in path.parts else None


def move_aside(path: Path, reason: str) -> FileQuarantined:
    """Rename what stands at `path` (a link itself, never its target) to `<file>.corrupt-<timestamp>`.

    DamagedState when it cannot be moved (a read-only folder, a mount point): then nothing is changed;
    FileNotFoundError when nothing stands there.
    """
    target = quarantine_name(path)
    try:
        safe_open.rename_here(path, target.name)
    except (FileNotFoundError, safe_open.UnsafePath):
        raise
    except OSError as error:
        raise DamagedState(f"{path} {reason}, and it could not be moved aside ({error.strerror or error}); "
                           "move or remove it yourself") from None
    from oboto.core.events import FileQuarantined

    return FileQuarantined(path=str(path), moved_to=str(target), reason=reason)


def open_repairing(path: Path, flags: int, mode: int = 0o644) -> tuple[int, FileQuarantined | None]:
    """Open (and with O_CREAT make) the regular file `path` without following links; a damaged one is moved
    aside first and a fresh one opened. Returns the fd and the event saying what was moved, if anything."""
    try:
        return safe_open.open_file(path, flags, mode, create_dirs=bool(flags & os.O_CREAT)), None
    except OSError as error:
        moved = _move_damaged(error)
    return safe_open.open_file(path, flags, mode, create_dirs=True), moved


def _move_damaged(error: OSError) -> FileQuarantined:
    """Move aside what `error` (an open that failed) names, if it failed because of what stands there."""
    damaged = damaged_path(error)
    if damaged is None:
        raise error
    try:
        return move_aside(damaged, describe_unusable(error))
    except (FileNotFoundError, safe_open.UnsafePath):
        raise error from None  # nothing damaged stands there: the folder itself refused (permissions)


def append_repairing(path: Path, data: bytes, *, fsync: bool) -> tuple[int, FileQuarantined | None]:
    """Append `data` in one write to the log at `path`, moving a damaged log aside first; (new size, event)."""
    fd, moved = open_repairing(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
        return os.fstat(fd).st_size, moved
    finally:
        os.close(fd)


def real_folder(path: Path, *, create: bool = True) -> FileQuarantined | None:
    """Make sure `path` is a folder reached without links: whatever else stands there (a file, a link) is moved
    aside; a missing folder is made when `create`. Returns the event of what was moved, if anything."""
    try:
        with safe_open.folder(path, create=create):
            return None
    except FileNotFoundError:
        if not create:
            return None
        raise
    except OSError as error:
        moved = _move_damaged(error)
    if create:
        with safe_open.folder(path, create=True):
            pass
    return moved
