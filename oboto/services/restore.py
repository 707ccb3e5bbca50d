"""Putting files back as a checkpoint holds them: the safety check before an undo, and the writes of one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from oboto.core import safe_open
from oboto.core.atomic import atomic_write_bytes
from oboto.services.change_models import Change, FileState
from oboto.services.checkpoint_repo import CheckpointRepo, Snapshot

SYMLINK_MODE = "120000"
EXECUTABLE_MODE = "100755"


def changed_since(repo: CheckpointRepo, change: Change, now: Snapshot) -> list[str]:
    """The files `change` touched that are no longer as it left them (edited, deleted or created again since)."""
    touched = change.touched()
    differing = {entry.path for entry in repo.diff(change.after, now.tree) if entry.path in touched}
    for path, (_before, after) in touched.items():
        if path in now.skipped_paths:
            differing.add(path)  # too big (or unreadable) to compare now: treat as changed
        elif after is None and os.path.lexists(repo.root / path) and path not in differing:
            differing.add(path)  # something the checkpoints leave out (ignored, a folder) now stands there
    return sorted(differing)


def restore(root: Path, states: dict[str, FileState | None], contents: dict[str, bytes]) -> tuple[list[str], list[str]]:
    """Make every path as `states` says (None: absent); returns (restored paths, one line per failure)."""
    restored: list[str] = []
    failures: list[str] = []
    for path, state in sorted(states.items()):
        target = root / path
        try:
            if state is None:
                _remove(root, target)
            else:
                _write(root, target, state, contents[state.blob])
        except OSError as error:
            failures.append(f"{path}: {error.strerror or error}")
            continue
        restored.append(path)
    return restored, failures


def _remove(root: Path, target: Path) -> None:
    try:
        with safe_open.parent_folder(target, base=root) as (folder, name):
            if stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                raise IsADirectoryError(21, "a folder stands there now; it was left alone")
            os.unlink(name, dir_fd=folder)
    except FileNotFoundError:
        return


def _write(root: Path, target: Path, state: FileState, data: bytes) -> None:
    if target.is_dir() and not target.is_symlink():
        raise IsADirectoryError(21, "a folder stands there now; it was left alone")
    if state.mode == SYMLINK_MODE:
        with safe_open.parent_folder(target, base=root, create=True) as (folder, name):
            try:
                os.unlink(name, dir_fd=folder)
            except FileNotFoundError:
                pass
            os.symlink(os.fsdecode(data), name, dir_fd=folder)
        return
    # The file is written itself (a link that replaced it is replaced, not followed), with the mode git kept.
    atomic_write_bytes(target, data, base=root, mode=0o755 if state.mode == EXECUTABLE_MODE else 0o644)
