"""How the checkpoint store stands, for `oboto doctor`: read-only, so it neither creates nor repairs anything."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from oboto.core.config import CheckpointSettings
from oboto.core.paths import WorkspacePaths
from oboto.services.checkpoint_repo import CheckpointRepo, GitFailed


@dataclass
class StoreStatus:
    enabled: bool
    git_version: str | None = None
    """None when there is no git binary (or it would not say its version)."""
    git_problem: str | None = None
    exists: bool = False
    sound: bool = True
    changes: int = 0
    size_bytes: int = 0
    moved_aside: list[Path] = field(default_factory=list)
    """Damaged stores that oboto moved aside (`checkpoints.corrupt-<timestamp>`), newest last."""


def store_status(paths: WorkspacePaths, settings: CheckpointSettings) -> StoreStatus:
    store = paths.checkpoints_dir
    status = StoreStatus(enabled=settings.enabled, exists=store.is_dir())
    status.moved_aside = sorted(paths.state_dir.glob(f"{store.name}.corrupt-*")) if paths.state_dir.is_dir() else []
    repo = CheckpointRepo(paths.root, store, max_file_bytes=settings.max_file_bytes, obotoignore=paths.obotoignore)
    try:
        status.git_version = repo.git_version()
    except GitFailed as problem:
        status.git_problem = str(problem)
        return status
    if not status.exists:
        return status
    status.size_bytes = _folder_size(store)
    status.sound = repo.is_sound()
    if status.sound:
        try:
            status.changes = len(repo.records())
        except GitFailed:
            status.sound = False
    return status


def _folder_size(folder: Path) -> int:
    total = 0
    for directory, _folders, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue  # a file git removed while this walked
    return total
