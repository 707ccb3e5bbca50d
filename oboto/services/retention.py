"""Retention: what a runner that stays up for weeks retires, so its cost and its files do not grow with history.

Once when the runner starts and every hour after, in a thread: finished task records older than
`tasks.retention_days` move into the monthly archive (TaskManager), and episode memories older than
`memory.episode_retention_days` are deleted (MemoryStore), and the notices of schedule runs older than the
tasks' retention move from the conversations into their archive (ConversationManager). Events are rotated by
size on their own.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from oboto.core.bus import EventBus
from oboto.core.config import Settings
from oboto.core.events import WorkspaceWarning
from oboto.core.models import utc_now
from oboto.services.memory import MemoryStore
from oboto.services.tasks import TaskManager

RETENTION_INTERVAL_SECONDS = 3600.0
FIRST_PASS_DELAY_SECONDS = 5.0
"""The first pass waits a little, so a runner's start (recovery, the queue) comes first."""


class Retention:
    """Runs the retention passes while this process is the runner."""

    def __init__(self, settings: Settings, bus: EventBus, tasks: TaskManager, memory: MemoryStore) -> None:
        self.settings = settings
        self.bus = bus
        self.tasks = tasks
        self.memory = memory
        self._timer: asyncio.Task[None] | None = None

    def start_runner(self) -> None:
        self._timer = asyncio.get_running_loop().create_task(self._every_interval(), name="oboto-retention")

    async def stop_runner(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
            self._timer = None

    async def _every_interval(self) -> None:
        await asyncio.sleep(FIRST_PASS_DELAY_SECONDS)
        while True:
            await asyncio.to_thread(self.run_once)
            await asyncio.sleep(RETENTION_INTERVAL_SECONDS)

    def run_once(self, now: datetime | None = None) -> tuple[int, int]:
        """One pass (blocking): (task records archived, episodes pruned). A failure is a warning, never a stop."""
        now = now or utc_now()
        archived = pruned = 0
        try:
            archived = self.tasks.retire_finished(now=now)
        except Exception as failure:
            self.bus.publish(WorkspaceWarning(message=f"old task records could not be archived: {failure}"))
        try:
            self.tasks.conversations.retire_schedule_notices(now - timedelta(days=self.settings.tasks.retention_days))
        except Exception as failure:
            self.bus.publish(WorkspaceWarning(message=f"old schedule-run notices could not be archived: {failure}"))
        try:
            pruned = self.memory.prune_episodes(now - timedelta(days=self.settings.memory.episode_retention_days))
        except Exception as failure:
            self.bus.publish(WorkspaceWarning(message=f"old episode memories could not be pruned: {failure}"))
        return archived, pruned
