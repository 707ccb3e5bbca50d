"""The cost of one checkpoint on a 10,000-file workspace with 10 changed files, against `git status` on it.

The workspace is also the person's own git repository (everything committed), so `git status` runs on
the same tree in the same run. Each round changes 10 files, then times one checkpoint (what happens
before and after every turn, task and shell command) and one `git status`; medians over the rounds.
The disk figure is what the store grows by per checkpoint of a change of 10 files, against what a
`git commit -a` of the same change adds to the workspace's own repository.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

from common import median_ms, report, temp_workspace
from oboto.core.bus import EventBus
from oboto.core.config import CheckpointSettings
from oboto.core.paths import WorkspacePaths
from oboto.services.change_models import ChangeAuthor
from oboto.services.checkpoints import CheckpointService

FOLDERS = 100
FILES_PER_FOLDER = 100
CHANGED = 10
ROUNDS = 15


def build_workspace() -> Path:
    root = temp_workspace()
    for folder in range(FOLDERS):
        sub = root / f"pkg{folder:03d}" / "mod"
        sub.mkdir(parents=True)
        for index in range(FILES_PER_FOLDER):
            target = (sub if index % 2 else sub.parent) / f"file{index:03d}.py"
            target.write_text(f"# module {folder}.{index}\n" + "value = 1\n" * 15)
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "all"]):
        git(root, *command)
    return root


def git(root: Path, *args: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost", GIT_COMMITTER_NAME="bench",
               GIT_COMMITTER_EMAIL="bench@localhost")
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def change_files(root: Path, round_number: int) -> None:
    """Edit 10 files in 10 folders."""
    for offset in range(CHANGED):
        target = root / f"pkg{(round_number * CHANGED + offset) % FOLDERS:03d}" / "file000.py"
        with target.open("a") as handle:
            handle.write(f"value = {round_number}\n")


def disk_bytes(folder: Path) -> int:
    return sum(entry.stat().st_blocks * 512 for entry in folder.rglob("*") if entry.is_file())


async def checkpoint(service: CheckpointService) -> float:
    """Seconds until a change's before checkpoint is taken (what a writing tool waits for)."""
    started = time.perf_counter()
    async with service.around(ChangeAuthor.turn("chat")) as change:
        await change.ready()
        return time.perf_counter() - started


async def measure(root: Path) -> None:
    paths = WorkspacePaths.for_root(root)
    paths.ensure()
    service = CheckpointService(paths, CheckpointSettings(), EventBus(None))
    await checkpoint(service)  # the first checkpoint stores every file once; later ones store what changed
    status = ["git", "-C", str(root), "status", "--porcelain"]
    subprocess.run(status, check=True, capture_output=True)
    ours: list[float] = []
    theirs: list[float] = []
    store_before, repository_before = disk_bytes(paths.checkpoints_dir), disk_bytes(root / ".git")
    for round_number in range(1, ROUNDS + 1):
        change_files(root, round_number)
        ours.append(await checkpoint(service))
        started = time.perf_counter()
        subprocess.run(status, check=True, capture_output=True)
        theirs.append(time.perf_counter() - started)
        git(root, "commit", "-qam", f"round {round_number}")
    per_checkpoint = (disk_bytes(paths.checkpoints_dir) - store_before) / ROUNDS / 1024
    per_commit = (disk_bytes(root / ".git") - repository_before) / ROUNDS / 1024
    files = FOLDERS * FILES_PER_FOLDER
    report(f"one checkpoint, {files} files, {CHANGED} changed", median_ms(ours), "ms", median_ms(theirs),
           "git status")
    report(f"disk per checkpoint of {CHANGED} changed files", per_checkpoint, "KB", per_commit,
           "git commit -a of the same change")


def main() -> None:
    asyncio.run(measure(build_workspace()))


if __name__ == "__main__":
    main()
