"""One turn at a time per conversation, across every process on the workspace.

A turn holds `.oboto/conversations/<name>.turn.lock` (a `core.locks.ProcessLock`) from before it reads the
history until its reply is stored, so a second turn reads the first one's reply and answers its own prompt.
A waiting turn polls (a blocking flock could be neither cancelled nor bounded) and gives up after its wait,
saying who holds the conversation. The kernel releases the lock of a process that dies.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator

from oboto.core.bus import EventBus
from oboto.core.errors import RequestRefused
from oboto.core.events import TurnWaiting
from oboto.core.locks import ProcessLock
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
        lock = ProcessLock(self.paths.conversation_turn_lock(conversation))
        await self._acquire(lock, conversation, wait_seconds)
        try:
            yield
        finally:
            lock.release()

    async def _acquire(self, lock: ProcessLock, conversation: str, wait_seconds: float) -> None:
        if self._try(lock):
            return
        holder = lock.holder_pid()
        holder = holder if holder and holder > 0 else None
        self.bus.publish(TurnWaiting(conversation=conversation, holder_pid=holder))
        deadline = time.monotonic() + wait_seconds
        while not self._try(lock):
            if time.monotonic() >= deadline:
                who = f"process {holder}" if holder else "another process"
                waited = f" after waiting {wait_seconds:g} s" if wait_seconds else ""
                raise ConversationBusy(f"conversation {conversation} is busy: {who} is running a turn in it{waited}; "
                                       "try again when it ends")
            await asyncio.sleep(POLL_SECONDS)

    def _try(self, lock: ProcessLock) -> bool:
        acquired = lock.try_acquire()
        if lock.moved is not None:  # a damaged lock file was moved aside: say so once
            self.bus.publish(lock.moved)
            lock.moved = None
        return acquired

    def busy(self, conversation: str) -> bool:
        """Whether a turn runs in `conversation` now (in any process)."""
        return ProcessLock(self.paths.conversation_turn_lock(conversation)).holder_pid() is not None
