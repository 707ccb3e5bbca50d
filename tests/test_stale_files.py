"""What killed processes leave in `.oboto/` (temp files of unfinished writes, locks of files that are gone) is
removed by the runner at start — only when old, or not held by anyone."""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from pathlib import Path

import pytest

from oboto.core import locks
from oboto.core.events import StaleFilesRemoved
from oboto.core.locks import locked
from oboto.core.paths import WorkspacePaths
from oboto.core.stale_files import STALE_TEMP_SECONDS, clean_stale_files
from oboto.services.conversation_models import Message
from oboto.services.runner import Runner
from oboto.services.runtime import Runtime

HOUR_AGO = time.time() - 3600


def leave(path: Path, *, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


async def start_and_stop_runner(runtime: Runtime) -> None:
    runner = Runner(runtime)
    serving = asyncio.create_task(runner.run(wait_for_lock=False))
    assert await runner.wait_until_active(20)
    runner.stop()
    await serving


async def test_the_runner_removes_old_temp_files_and_unused_locks_of_gone_files(workspace: WorkspacePaths) -> None:
    runtime = Runtime.open(workspace.root)
    runtime.conversations.create("scratch")
    runtime.conversations.append("scratch", Message(role="user", content="hello"))
    runtime.conversations.delete("scratch")  # its append lock stays behind
    deleted_conversation_lock = workspace.conversations_dir / "scratch.jsonl.lock"
    assert deleted_conversation_lock.exists()
    unknown_task_lock = leave(workspace.tasks_dir / "t-deadbeef.json.lock")
    killed_write = leave(workspace.state_dir / ".schedules.json.1a2b3c4d.tmp", mtime=HOUR_AGO)
    killed_task_write = leave(workspace.tasks_dir / ".t-0badf00d.json.5e6f7a8b.tmp", mtime=HOUR_AGO)
    events: list = []
    runtime.bus.subscribe(events.append, StaleFilesRemoved)

    await start_and_stop_runner(runtime)

    for gone in (deleted_conversation_lock, unknown_task_lock, killed_write, killed_task_write):
        assert not gone.exists(), gone
    [removed] = events
    assert sorted(removed.temp_files) == [".schedules.json.1a2b3c4d.tmp", "tasks/.t-0badf00d.json.5e6f7a8b.tmp"]
    assert sorted(removed.lock_files) == ["conversations/scratch.jsonl.lock", "tasks/t-deadbeef.json.lock"]


def test_what_may_still_be_in_use_is_kept(workspace: WorkspacePaths) -> None:
    fresh_temp = leave(workspace.state_dir / ".questions.json.0c0ffee0.tmp")  # a write going on right now
    own_locks = [leave(workspace.runner_lock), leave(workspace.foreground_lock)]
    leave(workspace.schedules)
    lock_of_existing = leave(workspace.state_dir / "schedules.json.lock")
    held = leave(workspace.tasks_dir / "t-12345678.json.lock")
    chroma_temp = leave(workspace.memory_dir / ".chroma.sqlite3.aaaa.tmp", mtime=HOUR_AGO)
    holder = os.open(held, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another transaction holds it while the runner starts
    try:
        cleaned = clean_stale_files(workspace.state_dir)
    finally:
        os.close(holder)
    assert not cleaned
    for kept in (fresh_temp, *own_locks, lock_of_existing, held, chroma_temp):
        assert kept.exists(), kept


def test_a_temp_file_is_stale_only_after_a_quarter_hour(workspace: WorkspacePaths) -> None:
    temp = leave(workspace.state_dir / ".agent-loop.json.feedface.tmp")
    written = temp.stat().st_mtime
    assert not clean_stale_files(workspace.state_dir, now=written + STALE_TEMP_SECONDS - 1)
    assert temp.exists()
    assert clean_stale_files(workspace.state_dir, now=written + STALE_TEMP_SECONDS + 1).temp_files == [temp.name]


def test_a_lock_whose_file_was_removed_while_waiting_is_taken_again(
    workspace: WorkspacePaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cleanup removes a lock file that someone has opened but not yet locked: that someone must then lock
    the file now at the path, or two processes would each hold "the" lock on different files."""
    document = workspace.state_dir / "questions.json"
    lock_path = document.with_name("questions.json.lock")
    real_flock = fcntl.flock
    removed = []

    def flock_after_removal(fd: int, operation: int) -> None:
        if not removed and operation == fcntl.LOCK_EX:
            removed.append(os.fstat(fd).st_ino)
            os.unlink(lock_path)  # what the cleanup does between our open and our flock
        real_flock(fd, operation)

    monkeypatch.setattr(locks.fcntl, "flock", flock_after_removal)
    with locked(document):
        monkeypatch.setattr(locks.fcntl, "flock", real_flock)
        assert removed and lock_path.exists()
        assert locks.try_lock(lock_path) is None, "the lock held is the one on the file at the path"
    held = locks.try_lock(lock_path)
    assert held is not None, "and it is released with the block"
    os.close(held)
