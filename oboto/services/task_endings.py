"""What a background task's end leaves behind besides its record: a notice in its conversation and an episode.

Both follow the TaskFinished event. Notices are batched (tasks ending together share one message) and never
dropped: a record keeps `notice_posted: false` until its notice is in the conversation, so the runner posts
what another process, or a runner that died, left unposted.
"""

from __future__ import annotations

import asyncio

from oboto.core import durable
from oboto.core.bus import EventBus
from oboto.core.config import ScheduleNotify
from oboto.core.events import TaskFinished, WorkspaceWarning
from oboto.services.conversation_models import MAIN_CONVERSATION
from oboto.services.conversations import ConversationManager
from oboto.services.memory import MemoryStore
from oboto.services.task_log import elapsed_text
from oboto.services.task_models import LOOP_ORIGIN, TaskRecord
from oboto.services.tasks import TaskManager

NOTICE_BATCH_SECONDS = 0.5
RESULT_EXCERPT = 600
EPISODE_DRAIN_SECONDS = 1.5
"""How long a stopping runner waits for episodes still being stored (a cold embedding model can take far longer)."""


class TaskEndings:
    """Posts completion notices and records episodes for the tasks that end in this process."""

    def __init__(self, bus: EventBus, tasks: TaskManager, conversations: ConversationManager,
                 memory: MemoryStore, *, schedule_notify: ScheduleNotify = "failures") -> None:
        self.bus = bus
        self.tasks = tasks
        self.conversations = conversations
        self.memory = memory
        self.schedule_notify = schedule_notify
        """Which scheduled runs are reported (`[schedules] notify`), unless their schedule says otherwise."""
        self.is_runner = False
        self._notice_handle: asyncio.TimerHandle | None = None
        self._notice_task: asyncio.Task[None] | None = None
        bus.subscribe(self._task_finished, TaskFinished)

    def _task_finished(self, event: TaskFinished) -> None:
        if self.is_runner or not self.tasks.is_runner:  # a runner whose index still builds posts once it is built
            self._schedule_notices()
        self.memory.record_episode(self.tasks.ended_record(event))

    # ----- the runner --------------------------------------------------------------------------

    def start_runner(self) -> None:
        """Post the notices a runner that died left unposted."""
        self.is_runner = True
        self._schedule_notices()

    def records_changed(self) -> None:
        """Another process changed task records (it may have cancelled a queued one): post what is unposted."""
        if self.is_runner and self.tasks.index.unposted():
            self._schedule_notices()

    async def stop_runner(self) -> None:
        """Finish the notices being posted, and the episodes being stored for as long as a stop may take."""
        self.is_runner = False
        if self._notice_handle is not None:  # a batch still gathering goes now, while the index can answer
            self._notice_handle.cancel()
            self._start_notice_task()
        if self._notice_task is not None:
            await asyncio.gather(self._notice_task, return_exceptions=True)
        if unstored := await self.memory.drain(EPISODE_DRAIN_SECONDS):
            self.bus.publish(WorkspaceWarning(message=f"{unstored} finished task(s) were not yet remembered when "
                                                      "the runner stopped; their records are kept"))

    # ----- completion notices ------------------------------------------------------------------

    def _schedule_notices(self) -> None:
        """Post notices shortly, so tasks ending together share one message."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._notice_handle is None:
            self._notice_handle = loop.call_later(NOTICE_BATCH_SECONDS, self._start_notice_task)

    def _start_notice_task(self) -> None:
        self._notice_handle = None
        if self._notice_task is None or self._notice_task.done():
            self._notice_task = asyncio.get_running_loop().create_task(self._post_notices())
        else:
            self._schedule_notices()

    async def _post_notices(self) -> None:
        await durable.writer.run_async(self._post_pending)

    def _post_pending(self) -> None:
        """Post every unposted notice (a writer job: the messages and records commit together)."""
        pending = self.tasks.unposted()
        by_conversation: dict[str, list[TaskRecord]] = {}
        for record in pending:
            if not self._reported(record):
                self.tasks.mark_notice_posted(record.id)  # its schedule's own history keeps the run
                continue
            by_conversation.setdefault(record.conversation, []).append(record)
        conversations = self.conversations
        for conversation, records in by_conversation.items():
            if not conversations.exists(conversation):
                conversation = MAIN_CONVERSATION
            loop_records = [record for record in records if record.origin == LOOP_ORIGIN]
            other = [record for record in records if record.origin != LOOP_ORIGIN]
            for record in loop_records:
                conversations.post_notice(conversation, loop_result_text(record), marker="background-agent",
                                          author=LOOP_ORIGIN)
            # Runs of schedules are told apart, so retention can archive their notices and keep the rest.
            for scheduled in (False, True):
                if batch := [record for record in other if (record.schedule_id is not None) == scheduled]:
                    conversations.post_notice(conversation, completion_notice(batch), marker="task-notice",
                                              author="tasks", scheduled=scheduled)
            for record in records:
                self.tasks.mark_notice_posted(record.id)

    def _reported(self, record: TaskRecord) -> bool:
        """Every task's end is reported, a scheduled run's as its schedule (or `[schedules] notify`) says."""
        if record.schedule_id is None:
            return True
        policy = record.notify or self.schedule_notify
        return policy == "always" or (policy == "failures" and record.status != "completed")


def completion_notice(records: list[TaskRecord]) -> str:
    """One message for every task that ended in this batch."""
    if len(records) == 1:
        record = records[0]
        head = f"Background task {record.id} {record.status} after {elapsed_text(record.elapsed_seconds)}: {record.description}"
        return head + _files_text(record) + _outcome_text(record, RESULT_EXCERPT)
    lines = [f"{len(records)} background tasks finished:"]
    for record in records:
        lines.append(f"- {record.id} {record.status}: {record.description}{_files_text(record)}"
                     f"{_outcome_text(record, 200, inline=True)}")
    return "\n".join(lines)


def _files_text(record: TaskRecord) -> str:
    if not record.files_changed:
        return ""
    noun = "file" if record.files_changed == 1 else "files"
    return f" (changed {record.files_changed} {noun}: oboto changes --task {record.id})"


def loop_result_text(record: TaskRecord) -> str:
    if record.status == "completed" and record.result:
        return record.result
    return f"The agent loop's run {record.id} {record.status}" + _outcome_text(record, RESULT_EXCERPT)


def _outcome_text(record: TaskRecord, limit: int, *, inline: bool = False) -> str:
    text = record.result if record.status == "completed" else record.error
    if not text:
        return ""
    text = text.strip()
    if len(text) > limit:
        text = text[:limit].rstrip() + f" … (oboto tasks output {record.id})"
    return f" — {text.splitlines()[0]}" if inline else f"\n\n{text}"
