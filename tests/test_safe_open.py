"""core.safe_open and core.quarantine on their own: the walk never goes through a link, an atomic write leaves no
temp file behind, and only what is inside a state folder is ever moved aside."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from oboto.core import safe_open
from oboto.core.paths import WorkspacePaths
from oboto.core.quarantine import append_repairing, damaged_path


def test_a_link_anywhere_on_the_way_is_refused_and_named(workspace: WorkspacePaths, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    workspace.tasks_dir.rmdir()
    workspace.tasks_dir.symlink_to(outside)
    with pytest.raises(safe_open.UnsafePath) as refused:
        safe_open.write_atomic(workspace.task_record("t-12345678"), b"{}")
    assert refused.value.filename == str(workspace.tasks_dir)
    assert str(refused.value) == f"{workspace.tasks_dir} is a symbolic link (oboto does not follow links here)"
    assert list(outside.iterdir()) == []


def test_a_failed_atomic_write_leaves_no_temp_file(workspace: WorkspacePaths) -> None:
    target = workspace.state_dir / "schedules.json"
    target.mkdir()
    with pytest.raises(safe_open.UnsafePath, match="is a folder, not a file"):
        safe_open.write_atomic(target, b"{}")
    assert [path.name for path in workspace.state_dir.iterdir() if path.name.endswith(".tmp")] == []


def test_an_atomic_write_gives_the_mode_asked_for_whatever_the_umask(workspace: WorkspacePaths) -> None:
    previous = os.umask(0o077)
    try:
        safe_open.write_atomic(workspace.root / "script.sh", b"#!/bin/sh\n", base=workspace.root, mode=0o755)
    finally:
        os.umask(previous)
    assert (workspace.root / "script.sh").stat().st_mode & 0o777 == 0o755


def test_a_pipe_in_a_logs_place_is_moved_aside_without_hanging(workspace: WorkspacePaths) -> None:
    os.mkfifo(workspace.events)
    size, moved = append_repairing(workspace.events, b"{}\n", fsync=False)
    assert size == 3 and moved is not None and "not a regular file" in moved.reason
    assert workspace.events.read_bytes() == b"{}\n"


def test_only_what_is_inside_a_state_folder_is_ever_moved_aside(workspace: WorkspacePaths) -> None:
    """A workspace (or home) folder oboto may not open is the person's to fix: moving it would move the project."""
    denied_root = PermissionError(errno.EACCES, "Permission denied", str(workspace.root))
    denied_file = PermissionError(errno.EACCES, "Permission denied", str(workspace.schedules))
    linked = safe_open.UnsafePath(workspace.tasks_dir, "is a symbolic link")
    assert damaged_path(denied_root) is None
    assert damaged_path(denied_file) == workspace.schedules
    assert damaged_path(linked) == workspace.tasks_dir
    assert damaged_path(OSError(errno.ENOSPC, "No space left on device", str(workspace.schedules))) is None
