"""One turn at a time per conversation, across every process on the workspace.

A turn holds an exclusive flock on `.oboto/conversations/<name>.turn.lock` from before it reads the history
until its reply is stored, so a second turn reads the first one's reply and answers its own prompt. A waiting
turn polls (a blocking flock could be neither cancelled nor bounded) and gives up after its wait, saying who
holds the conversation. The kernel releases the lock of a process that dies.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator

from oboto.core.bus import EventBus
from oboto.core.errors import RequestRefused
from oboto.core.events import TurnWaiting
from oboto.core.paths import WorkspacePaths

POLL_SECONDS = 0.1


class ConversationBusy(RequestRefused):
    """Another turn runs in the conversation and did not end within the wait."""


class TurnLocks:
    def __init__(self, paths: WorkspacePaths, bus: EventBus) -> None:
        self.paths = paths
        self.bus = bus

    @asynccontextmanager
    async def hold(self, conversation: str, *, wait_seconds: float) -> AsyncIterator[None]:
        """Hold `conversation` for one turn, waiting up to `wait_seconds` for a turn already running in it."""
        path = self.paths.conversation_turn_lock(conversation)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            await self._acquire(fd, conversation, wait_seconds)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    async def _acquire(self, fd: int, conversation: str, wait_seconds: float) -> None:
        if _try_lock(fd):
            return
        holder = _holder(fd)
        self.bus.publish(TurnWaiting(conversation=conversation, holder_pid=holder))
        deadline = time.monotonic() + wait_seconds
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                who = f"process {holder}" if holder else "another process"
                waited = f" after waiting {wait_seconds:g} s" if wait_seconds else ""
                raise ConversationBusy(f"conversation {conversation} is busy: {who} is running a turn in it{waited}; "
                                       "try again when it ends")
            await asyncio.sleep(POLL_SECONDS)

    def busy(self, conversation: str) -> bool:
        """Whether a turn runs in `conversation` now (in any process)."""
        path = self.paths.conversation_turn_lock(conversation)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            if _try_lock(fd):
                fcntl.flock(fd, fcntl.LOCK_UN)
                return False
            return True
        finally:
            os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
