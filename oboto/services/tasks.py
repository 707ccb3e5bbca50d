"""TaskManager: one-shot background tasks, queued FIFO behind a concurrency limit, kept on disk.

Any process may spawn, cancel and read tasks; only the runner (the process holding the runner lock)
executes them. A record is on disk before its id is handed out, and every state change is an atomic
replace under the record's lock, so a kill -9 at any moment leaves a readable record. The runner's own writes
go through the durable writer (`core.durable`): its event loop awaits them, never an fsync.

What a task's end means to others (its completion notice, its episode, the scheduler's and the loop's
bookkeeping) follows the TaskFinished event; a question its agent asks moves it to `awaiting_answer` and
back through QuestionAsked and QuestionWaitEnded.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections import deque
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol

from oboto.agent.profiles import AgentProfile, ProfileError, ProfileLibrary
from oboto.agent.prompt import system_prompt
from oboto.agent.tools.base import ToolContext, ToolRegistry
from oboto.agent.turn import ChatModel, TurnLimits, run_turn
from oboto.core import durable
from oboto.core.bus import EventBus
from oboto.core.config import Settings
from oboto.core.errors import RequestRefused
from oboto.core.events import (
    QuestionAsked,
    QuestionWaitEnded,
    TaskCancelRequested,
    TaskFinished,
    TaskQueued,
    TaskStarted,
    TasksArchived,
    TaskStatusChanged,
    WorkspaceWarning,
)
from oboto.core.locks import ProcessLock
from oboto.core.models import utc_now
from oboto.core.paths import WorkspacePaths
from oboto.core.store import DocumentTransaction, document_transaction, load_document, save_document
from oboto.llm.types import Usage
from oboto.services.change_models import ChangeAuthor
from oboto.services.checkpoints import CheckpointService
from oboto.services.conversation_models import MAIN_CONVERSATION
from oboto.services.conversations import ConversationManager
from oboto.services.foreground import ForegroundActivity
from oboto.services.runner import call_in_loop
from oboto.services.task_archive import TaskArchive, finished_before
from oboto.services.task_history import TaskHistory, continued_messages, settled
from oboto.services.task_index import TaskIndex
from oboto.services.task_log import PublishingTaskLog, TaskOutput, output_of, read_output
from oboto.services.task_models import ACTIVE_STATUSES, FINAL_STATUSES, LOOP_ORIGIN, TASK_ID_PATTERN, TaskRecord

GUARDED_ORIGINS = frozenset({"schedule", LOOP_ORIGIN})
WAIT_POLL_SECONDS = 0.5
"""How often `wait` reads the record while this process is the runner (it hears its own tasks end at once)."""
OTHER_RUNNER_POLL_SECONDS = 0.1
"""How often `wait` reads the record of a task another process runs."""


class TaskError(RequestRefused):
    """A task request that cannot be done (unknown id, bad input, spawn depth)."""


class AgentHost(Protocol):
    """What a task's agent runs on (the Runtime provides it): tool contexts, the models, profiles and tools."""

    tools: ToolRegistry
    profiles: ProfileLibrary

    def llm_for(self, model: str | None) -> ChatModel: ...

    def tool_context(self, *, conversation: str | None = None, task_id: str | None = None, depth: int = 0,
                     background: bool = False, read_only: bool = False, origin: str = "foreground",
                     schedule_id: str | None = None, profile: AgentProfile | None = None) -> ToolContext: ...


class TaskManager:
    """The only writer of `.oboto/tasks/`."""

    def __init__(self, paths: WorkspacePaths, settings: Settings, bus: EventBus, conversations: ConversationManager,
                 foreground: ForegroundActivity, agents: AgentHost, *, checkpoints: CheckpointService) -> None:
        self.paths = paths
        self.settings = settings
        self.bus = bus
        self.conversations = conversations
        self.foreground = foreground
        self.agents = agents
        self.checkpoints = checkpoints
        self.is_runner = False
        self._queue: deque[str] = deque()
        self._queued_ids: set[str] = set()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._running_agents: dict[str, str | None] = {}
        """The profile each running task runs as, for the profiles' own `max_concurrent`."""
        self._stopping_reason: str | None = None
        self._ending: TaskRecord | None = None
        """The record the TaskFinished being published announces, for its subscribers (see `ended_record`)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        """The runner's event loop, where tasks run (spawn and cancel may be called from a worker thread)."""
        self._arrivals: list[str] = []
        """Tasks queued from another thread, waiting for the loop to take them (one wake-up for a burst)."""
        self._arrivals_lock = threading.Lock()
        self._burst = threading.local()
        """`stored`: the records a `spawning_many` block of this thread has stored, to announce together."""
        self.paths.tasks_dir.mkdir(parents=True, exist_ok=True)
        self.index = TaskIndex(paths.tasks_dir, self._load_path, bus.publish)
        """The live records, kept by the runner (built when it starts, then fed each change)."""
        self.archive = TaskArchive(paths.task_archive_dir, bus.publish)
        bus.subscribe(self._question_asked, QuestionAsked)
        bus.subscribe(self._question_wait_ended, QuestionWaitEnded)

    # ----- records -----------------------------------------------------------------------------

    def _path(self, task_id: str) -> Path:
        if not isinstance(task_id, str) or not re.fullmatch(TASK_ID_PATTERN, task_id):
            raise TaskError(f"{task_id!r} is not a task id (they look like t-1a2b3c4d)")
        return self.paths.task_record(task_id)

    def _load(self, task_id: str) -> TaskRecord | None:
        return self._load_path(self._path(task_id))

    def _load_path(self, path: Path) -> TaskRecord | None:
        return load_document(path, TaskRecord, self.bus)

    def get(self, task_id: str) -> TaskRecord:
        """A live record, else an archived one; an unknown id is a TaskError."""
        record = self._load(task_id)
        if record is None:
            archived = self.archive.find(task_id)
            if archived is None:
                raise TaskError(f"no task with id {task_id}")
            record = archived.record
        return record

    @contextmanager
    def _transaction(self, task_id: str) -> Iterator[DocumentTransaction[TaskRecord]]:
        """A change of one record (another process may be changing it too); an unknown id is a TaskError."""

        def missing() -> TaskRecord:
            raise TaskError(f"no task with id {task_id}")

        with document_transaction(self._path(task_id), TaskRecord, self.bus, default=missing) as tx:
            yield tx
        durable.after_commit(lambda: tx.written is not None and self.index.put(tx.doc, tx.written))  # once renamed

    def _update(self, task_id: str, **changes: Any) -> TaskRecord:
        with self._transaction(task_id) as tx:
            tx.doc = TaskRecord.model_validate({**tx.doc.model_dump(), **changes})
        return tx.doc

    async def _update_async(self, task_id: str, **changes: Any) -> TaskRecord:
        """`_update` as a writer job: the event loop waits for it without blocking."""
        return await durable.writer.run_async(lambda: self._update(task_id, **changes))

    def list(self, status: str | Iterable[str] | None = None, *, archived: bool = False) -> list[TaskRecord]:
        """Live records (in `status`), oldest first; with `archived`, the archived ones too. The runner reads only
        the records its index says are in `status` (once built); any other process reads the folder."""
        wanted = {status} if isinstance(status, str) else set(status) if status else None
        if self.index.settled():
            paths = [self.paths.task_record(task_id) for task_id in self.index.ids(wanted)]
        else:
            paths = [path for path in self.paths.tasks_dir.glob("t-*.json") if re.fullmatch(TASK_ID_PATTERN, path.stem)]
        records = [record for path in paths if (record := self._load_path(path)) is not None
                   and (wanted is None or record.status in wanted)]
        if archived:
            live = {record.id for record in records}
            records += [record for record in self.archive.records()
                        if record.id not in live and (wanted is None or record.status in wanted)]
        return sorted(records, key=lambda record: (record.created_at, record.id))

    def unposted(self) -> list[TaskRecord]:
        """Finished records whose conversation has not been told yet, oldest first."""
        if not self.index.settled():
            return [record for record in self.list(FINAL_STATUSES) if not record.notice_posted]
        records = [self._load(task_id) for task_id in self.index.unposted()]
        return [record for record in records if record is not None and record.finished and not record.notice_posted]

    def counts(self) -> dict[str, int]:
        """How many live records are in each state (from the runner's index, without reading them)."""
        if self.index.settled():
            return self.index.counts()
        counted: dict[str, int] = {}
        for record in self.list():
            counted[record.status] = counted.get(record.status, 0) + 1
        return counted

    # ----- requests (any process) --------------------------------------------------------------

    def spawn(
        self,
        description: str,
        query: str,
        *,
        context: str | None = None,
        conversation: str = "chat",
        origin: str = "user",
        tags: Iterable[str] = (),
        schedule_id: str | None = None,
        parent_task_id: str | None = None,
        depth: int = 1,
        read_only: bool = False,
        guarded: bool = False,
        timeout_seconds: float | None = None,
        max_iterations: int | None = None,
        token_budget: int | None = None,
        agent: str | None = None,
        model: str | None = None,
        notify: str | None = None,
    ) -> TaskRecord:
        """Record a queued task and return it; the record is on disk before the id is returned.

        `agent` names the profile it runs as (its limits apply unless given here); `model` overrides its model."""
        record = self._new_record(
            description, query, context=context, conversation=conversation, origin=origin, tags=tags,
            schedule_id=schedule_id, parent_task_id=parent_task_id, depth=depth, read_only=read_only,
            guarded=guarded, timeout_seconds=timeout_seconds, max_iterations=max_iterations,
            token_budget=token_budget, agent=agent, model=model, notify=notify)
        return durable.writer.run(lambda: self._save_new(record))

    async def spawn_async(self, description: str, query: str, **options: Any) -> TaskRecord:
        """`spawn` for the event loop: the same record, made durable by the writer while the loop goes on."""
        record = self._new_record(description, query, **options)
        return await durable.writer.run_async(lambda: self._save_new(record))

    def _new_record(self, description: str, query: str, *, context: str | None = None, conversation: str = "chat",
                    origin: str = "user", tags: Iterable[str] = (), schedule_id: str | None = None,
                    parent_task_id: str | None = None, depth: int = 1, read_only: bool = False,
                    guarded: bool = False, timeout_seconds: float | None = None, max_iterations: int | None = None,
                    token_budget: int | None = None, agent: str | None = None, model: str | None = None,
                    notify: str | None = None) -> TaskRecord:
        """The queued record `spawn` stores; a TaskError when the request cannot be done."""
        if depth > self.settings.tasks.max_depth:
            raise TaskError(
                f"background tasks may only be nested {self.settings.tasks.max_depth} deep; do this work yourself"
            )
        if not description.strip() or not query.strip():
            raise TaskError("a task needs a description and a query")
        if model is not None and not model.strip():
            raise TaskError("the model is empty; leave it out to use the agent's or the workspace's model")
        profile = self.agents.profiles.get(agent)
        limits = self.settings.tasks
        record = TaskRecord(
            description=description.strip()[:500],
            query=query,
            context=context,
            conversation=self._conversation_of(conversation),
            origin=origin,
            tags=list(tags),
            schedule_id=schedule_id,
            parent_task_id=parent_task_id,
            depth=depth,
            read_only=read_only,
            guarded=guarded or origin in GUARDED_ORIGINS,
            timeout_seconds=timeout_seconds or profile.timeout_seconds or limits.timeout_seconds,
            max_iterations=max_iterations or profile.max_iterations or limits.max_iterations,
            token_budget=token_budget or profile.token_budget or limits.token_budget,
            agent=profile.name,
            model=model.strip() if model else None,
            notify=notify,
        )
        return record

    @contextmanager
    def spawning_many(self) -> Iterator[None]:
        """A block that spawns many tasks at once: the agent profiles are read once for all of them, and the
        tasks are announced together once durable (one event-log append, one wake-up of the runner's loop)."""
        stored: list[tuple[TaskRecord, Path]] = []
        self._burst.stored = stored
        try:
            with self.agents.profiles.held():
                yield
        finally:
            self._burst.stored = None
            if stored:
                durable.after_commit(lambda: self._announce(stored))

    def _conversation_of(self, name: str) -> str:
        """The conversation a task reports to, checked to exist (`chat` always does: no read for it)."""
        if name == MAIN_CONVERSATION:
            return name
        return self.conversations.info(name).name

    def _save_new(self, record: TaskRecord) -> TaskRecord:
        """Store a new record (a writer job); it is announced, and started here, once it is durable."""
        path = self.paths.task_record(record.id)
        save_document(path, record)
        burst: list[tuple[TaskRecord, Path]] | None = getattr(self._burst, "stored", None)
        if burst is not None:
            burst.append((record, path))
        else:
            durable.after_commit(lambda: self._announce([(record, path)]))
        return record

    def _announce(self, stored: list[tuple[TaskRecord, Path]]) -> None:
        """Index new records (their files are in place once committed), say they are queued, and start them."""
        for record, path in stored:
            self.index.put(record, os.stat(path, follow_symlinks=False))
        self.bus.publish_many([TaskQueued(task_id=record.id, description=record.description, origin=record.origin,
                                          agent=record.agent) for record, _path in stored])
        if self.is_runner:
            self._start_soon(*(record.id for record, _path in stored))

    def continue_task(self, task_id: str, prompt: str) -> TaskRecord:
        """Queue a finished task again with a follow-up: its agent goes on with its own history and `prompt`."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise TaskError("a follow-up needs a prompt")
        if self._load(task_id) is None:
            self.get(task_id)  # an unknown id says so
            raise TaskError(f"{task_id} ended more than {self.settings.tasks.retention_days:g} days ago and was "
                            "archived; spawn a new task instead")
        if not self.paths.task_history(task_id).is_file() and self.get(task_id).finished:
            raise TaskError(f"{task_id} has no history to continue (it never ran, or ran before oboto kept task "
                            "histories); spawn a new task instead")
        with self._transaction(task_id) as tx:
            record = tx.doc
            if not record.finished:
                raise TaskError(f"{task_id} is still {record.status}; wait for it to end (wait_for_task), "
                                "then continue it")
            tx.doc = record.model_copy(update={
                "status": "queued", "follow_ups": [*record.follow_ups, prompt], "finished_at": None, "result": None,
                "error": None, "cancel_requested": False, "cancel_reason": None, "notice_posted": False,
                "runner_pid": None, "question_id": None,
            })
            tx.publish(TaskQueued(task_id=task_id, description=record.description, origin=record.origin,
                                  agent=record.agent, follow_up=True))
        if self.is_runner:
            self._start_soon(task_id)
        return tx.doc

    def check_agent(self, agent: str | None) -> str | None:
        """`agent` once it is known to name a profile (None: the default agent); ProfileError otherwise."""
        return self.agents.profiles.catalog().check(agent)

    def runner_active(self) -> bool:
        """Whether some process (this one or another) is running tasks on this workspace."""
        return self.is_runner or ProcessLock(self.paths.runner_lock).holder_pid() is not None

    def cancel(self, task_id: str, *, reason: str | None = None) -> TaskRecord:
        """Stop a task: a queued one is cancelled at once, a running one's agent is cancelled by the runner.
        `reason` (e.g. `emergency stop`) becomes its recorded error."""
        with self._transaction(task_id) as tx:
            if tx.doc.finished:
                return tx.doc
            if tx.doc.status == "queued":
                why = f"cancelled before it started: {reason}" if reason else "cancelled before it started"
                tx.doc = tx.doc.model_copy(update={"status": "cancelled", "finished_at": utc_now(), "error": why,
                                                   "cancel_reason": reason})
            else:
                tx.doc = tx.doc.model_copy(update={"cancel_requested": True, "cancel_reason": reason})
            tx.publish(TaskCancelRequested(task_id=task_id))
        record = tx.doc
        if record.status == "cancelled":
            self._ended(record)
        elif task_id in self._running:
            call_in_loop(self._loop, self._running[task_id].cancel)
        return record

    def cancel_all(self, *, reason: str | None = None) -> list[TaskRecord]:
        """Cancel every queued and running task; returns what was asked to stop."""
        return [self.cancel(record.id, reason=reason) for record in self.list(ACTIVE_STATUSES)]

    def _cancelled_because(self, task_id: str) -> str:
        record = self._load(task_id)
        reason = record.cancel_reason if record is not None else None
        return f"cancelled: {reason}" if reason else "cancelled on request"

    def output(self, task_id: str, *, tail: int | None = None, offset: int | None = None) -> TaskOutput:
        if self._load(task_id) is None:
            archived = self.archive.find(task_id)
            if archived is None:
                raise TaskError(f"no task with id {task_id}")
            return output_of(archived.log.encode(), tail=tail, offset=offset)
        return read_output(self.paths.task_log(task_id), tail=tail, offset=offset)

    def retire_finished(self, *, now: datetime | None = None) -> int:
        """Move finished records older than `tasks.retention_days` (their notices posted), with their logs, into
        the monthly archive; returns how many left the live set. Blocking: the runner calls it in a thread."""
        cutoff = (now or utc_now()) - timedelta(days=self.settings.tasks.retention_days)
        if self.index.settled():
            candidates = [entry.id for entry in self.index.finished_before(cutoff)]
        else:
            candidates = [record.id for record in self.list(FINAL_STATUSES) if finished_before(record, cutoff)]
        retired = self.archive.retire(self.paths, candidates, cutoff, self._load_path)
        for task_id in retired:
            self.index.remove(task_id)
        if retired:
            self.index.save_snapshot()
            self.bus.publish(TasksArchived(count=len(retired), older_than=cutoff))
        return len(retired)

    async def wait(self, task_id: str, timeout: float) -> TaskRecord:
        """The record once the task has ended, or as it is when `timeout` passes (never raises for slowness)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        record = self.get(task_id)
        ended = asyncio.Event()

        def heard(event: TaskFinished) -> None:
            if event.task_id == task_id:
                call_in_loop(loop, ended.set)

        # Run here, the task's end is heard at once; run by another process, it is seen by reading the record.
        unsubscribe = self.bus.subscribe(heard, TaskFinished)
        try:
            while not self._ended_here(record) and loop.time() < deadline:
                poll = WAIT_POLL_SECONDS if self.is_runner else OTHER_RUNNER_POLL_SECONDS
                with suppress(TimeoutError):
                    async with asyncio.timeout(min(poll, max(0.0, deadline - loop.time()))):
                        await ended.wait()
                ended.clear()
                record = self._load(task_id) or record
        finally:
            unsubscribe()
        return record

    def _ended_here(self, record: TaskRecord) -> bool:
        """The task has ended, and the runner's index says so too (its file is in place a moment before the
        index hears of it), so what this process lists or counts next agrees with the record returned."""
        if not record.finished:
            return False
        if not (self.is_runner and self.index.ready):
            return True
        return self.index.status(record.id) in (record.status, None)

    # ----- the runner --------------------------------------------------------------------------

    def start_runner(self) -> None:
        """Become the executor: what is spawned from now on runs (the index may still be building; `recover`
        follows once it is built)."""
        self.is_runner = True
        self._stopping_reason, self._loop = None, asyncio.get_running_loop()
        with self._arrivals_lock:
            self._arrivals = []  # a wake-up meant for an earlier loop was lost with it; `recover` runs the queue

    def recover(self) -> None:
        """The index is built: mark interrupted the tasks a dead runner left running (only those), then run what
        is queued."""
        for task_id in self.index.ids(("running", "awaiting_answer")):
            record = self._load(task_id)
            if record is not None and record.status in ("running", "awaiting_answer") and task_id not in self._running:
                who = f"process {record.runner_pid}" if record.runner_pid else "the process running it"
                self._finish(task_id, "interrupted", error=f"{who} stopped before the task finished")
        for task_id in self.index.ids(("queued",)):
            self._enqueue(task_id)
        self._pump()

    def records_changed(self, paths: Iterable[Path]) -> None:
        """Another process wrote these records (a spawn, a cancel request): update the index from each one, and
        pick up the work it asks for (a change while the index is being built is looked at once it is)."""
        for path in paths:
            entry = self.index.refresh(path)
            if entry is None or not self.is_runner:
                continue
            if entry.status == "queued":
                self._enqueue(entry.id)
            elif entry.cancel_requested and entry.id in self._running:
                self._running[entry.id].cancel()
        self._pump()  # does nothing unless this process is the runner

    async def stop_runner(self, reason: str) -> None:
        """Cancel every running task (recorded as interrupted with `reason`) and stop executing."""
        self._stopping_reason = reason
        self.is_runner = False
        running = list(self._running.values())
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    def under_way(self, record: TaskRecord) -> bool:
        """Whether `record`'s task is queued or being run. While this process is the runner, a record running
        under another process is one a dead runner left (the recovery that follows the index build marks it)."""
        if record.status not in ACTIVE_STATUSES:
            return False
        return record.status == "queued" or not self.is_runner or record.runner_pid == os.getpid()

    @property
    def running_ids(self) -> list[str]:
        return list(self._running)

    def _start_soon(self, *task_ids: str) -> None:
        """Queue `task_ids` on the runner's loop; arrivals from another thread before it looks wake it once."""
        with self._arrivals_lock:
            first = not self._arrivals
            self._arrivals.extend(task_ids)
        if first:
            call_in_loop(self._loop, self._take_arrivals)

    def _take_arrivals(self) -> None:
        with self._arrivals_lock:
            arrived, self._arrivals = self._arrivals, []
        for task_id in arrived:
            self._enqueue(task_id)
        self._pump()

    def _enqueue(self, task_id: str) -> None:
        if task_id not in self._queued_ids and task_id not in self._running:
            self._queued_ids.add(task_id)
            self._queue.append(task_id)

    def _pump(self) -> None:
        """Start queued tasks, oldest first, while there is a free slot (overall, and for the task's profile)."""
        if not self.is_runner:
            return
        held_back: list[str] = []
        while self._queue and len(self._running) < self.settings.tasks.max_concurrent:
            task_id = self._queue.popleft()
            record = self._load(task_id)
            if record is None or record.status != "queued":
                self._queued_ids.discard(task_id)
                continue
            if self._profile_is_full(record.agent):
                held_back.append(task_id)  # keeps its place; later tasks of other profiles may start
                continue
            self._queued_ids.discard(task_id)
            task = asyncio.get_running_loop().create_task(self._execute(record), name=task_id)
            task.add_done_callback(self._execution_ended)
            self._running[task_id] = task
            self._running_agents[task_id] = record.agent
        self._queue.extendleft(reversed(held_back))

    def _profile_is_full(self, agent: str | None) -> bool:
        try:
            limit = self.agents.profiles.get(agent).max_concurrent
        except ProfileError:
            return False  # it starts, and fails saying the profile is gone
        if limit is None:
            return False
        return sum(1 for running in self._running_agents.values() if running == agent) >= limit

    def _execution_ended(self, task: asyncio.Task[None]) -> None:
        """A task cancelled before its first step never reached its own handlers; record its end here."""
        task_id = task.get_name()
        if self._running.get(task_id) is not task:
            return
        del self._running[task_id]
        self._running_agents.pop(task_id, None)
        status, error = ("interrupted", self._stopping_reason) if self._stopping_reason else (
            "cancelled", self._cancelled_because(task_id))
        if not task.cancelled():
            status, error = "failed", f"{type(task.exception()).__name__}: {task.exception()}"
        self._finish(task_id, status, error=error)
        self._pump()

    async def _claim(self, queued: TaskRecord) -> TaskRecord | None:
        """Mark a queued task running (None: another process cancelled it meanwhile)."""
        def claim() -> TaskRecord | None:
            with self._transaction(queued.id) as tx:
                if tx.doc.status != "queued":
                    return None
                tx.doc = tx.doc.model_copy(update={"status": "running", "started_at": utc_now(),
                                                   "runner_pid": os.getpid(), "runs": tx.doc.runs + 1})
            return tx.doc

        return await durable.writer.run_async(claim)

    async def _execute(self, queued: TaskRecord) -> None:
        claimed = await self._claim(queued)
        if claimed is None:
            self._running.pop(queued.id, None)
            self._running_agents.pop(queued.id, None)
            self._pump()
            return
        record = claimed
        log = PublishingTaskLog(self.paths.task_log(record.id), self.bus, record.id)
        status, result, error, outcome, change = "failed", None, None, None, None
        messages: list[dict[str, Any]] = []
        author = ChangeAuthor.task(record.id, origin=record.origin, schedule_id=record.schedule_id)
        try:
            profile = self.agents.profiles.get(record.agent)
            ctx = self.agents.tool_context(
                conversation=record.conversation, task_id=record.id, depth=record.depth, background=True,
                read_only=record.read_only, origin=record.origin, schedule_id=record.schedule_id, profile=profile,
            )
            if record.guarded:
                ctx.busy_guard = self.foreground.is_busy
            self.bus.publish(TaskStarted(task_id=record.id, read_only=ctx.is_read_only()))
            if record.follow_ups:
                log.line(f"▶ follow-up: {record.follow_ups[-1][:300]}")
            else:
                log.line(f"▶ {record.description}")
            messages = self._messages(record, ctx)
            limits = TurnLimits(record.max_iterations, record.token_budget, self.settings.agent.repeat_limit)
            model = self.agents.llm_for(record.model or profile.model)
            async with self.checkpoints.around(author) as change:
                ctx.changes = change
                async with asyncio.timeout(record.timeout_seconds) as deadline:
                    ctx.extra["deadline"] = deadline
                    outcome = await run_turn(model, self.agents.tools, ctx, messages, limits, log)
            status = "completed" if outcome.ok else "failed"
            result, error = outcome.final_text or None, outcome.error
        except ProfileError as failure:
            status, error = "failed", str(failure)
        except TimeoutError:
            status, error = "timed_out", f"stopped after the {record.timeout_seconds:g}s time limit"
        except asyncio.CancelledError:
            if self._stopping_reason:
                status, error = "interrupted", self._stopping_reason
            else:
                status, error = "cancelled", self._cancelled_because(record.id)
        except Exception as failure:  # a bug in a tool or the client must end this task, not the runner
            status, error = "failed", f"{type(failure).__name__}: {failure}"
        finally:
            log.line(f"■ {status}" + (f": {error}" if error else ""))
        self._running.pop(record.id, None)
        self._running_agents.pop(record.id, None)
        usage = outcome.usage if outcome else None
        await self._finish_async(
            record.id, status, log=log, history=messages, error=error, result=result, run_usage=usage or Usage(),
            iterations=record.iterations + outcome.iterations if outcome else None,
            tool_calls=record.tool_calls + outcome.tool_calls if outcome else None,
            files_changed=len(change.recorded.files) if change and change.recorded else None,
            usage={"prompt_tokens": record.usage.prompt_tokens + usage.prompt_tokens,
                   "completion_tokens": record.usage.completion_tokens + usage.completion_tokens,
                   "cost_usd": record.usage.cost_usd + usage.cost_usd} if usage else None,
        )
        self._pump()

    def _messages(self, record: TaskRecord, ctx: ToolContext) -> list[dict[str, Any]]:
        """The conversation the task's agent starts from: its query, or its own history and the follow-up."""
        system = {"role": "system", "content": system_prompt(ctx)}
        query = record.query if not record.context else f"{record.query}\n\nContext:\n{record.context}"
        if not record.follow_ups:
            return [system, {"role": "user", "content": query}]
        history = load_document(self.paths.task_history(record.id), TaskHistory, self.bus)
        earlier = history.messages if history is not None else [system, {"role": "user", "content": query}]
        return continued_messages(system, earlier, record.follow_ups[-1])

    def _keep_history(self, task_id: str, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        """What the agent saw and said, for `continue_task`; a full disk must not change how the task ended."""
        try:
            save_document(self.paths.task_history(task_id), TaskHistory(messages=settled(messages)))
        except OSError as failure:
            self.bus.publish(WorkspaceWarning(message=f"the history of {task_id} could not be saved ({failure}); "
                                                      "it cannot be continued"))

    def _finish(self, task_id: str, status: str, *, error: str | None = None, run_usage: Usage | None = None) -> None:
        """Record how a task that never ran its agent ended (`run_usage` None: it did not run)."""
        record = durable.writer.run(lambda: self._update(task_id, **_ending(status, error, None, {})))
        self._ended(record, run_usage)

    async def _finish_async(self, task_id: str, status: str, *, log: PublishingTaskLog,
                            history: list[dict[str, Any]], error: str | None, result: str | None,
                            run_usage: Usage, **extra: Any) -> None:
        """Record how a run ended, with its log and history, in one writer job: one record write for the end."""
        def finish() -> TaskRecord:
            log.close()
            self._keep_history(task_id, history)
            return self._update(task_id, **_ending(status, error, result, extra))

        self._ended(await durable.writer.run_async(finish), run_usage)

    def _ended(self, record: TaskRecord, run_usage: Usage | None = None) -> None:
        usage = run_usage or Usage()
        self._ending = record
        try:
            self.bus.publish(TaskFinished(task_id=record.id, status=record.status, error=record.error,
                                          schedule_id=record.schedule_id, origin=record.origin, agent=record.agent,
                                          ran=run_usage is not None, prompt_tokens=usage.prompt_tokens,
                                          completion_tokens=usage.completion_tokens, cost_usd=usage.cost_usd))
        finally:
            self._ending = None

    def ended_record(self, event: TaskFinished) -> TaskRecord:
        """The record `event` announces: the one just written while it is being published here, else read."""
        ending = self._ending
        if ending is not None and ending.id == event.task_id:
            return ending
        return self.get(event.task_id)

    def set_status(self, task_id: str, status: str, **changes: Any) -> TaskRecord:
        """Move a running task to another non-final state (awaiting_answer and back)."""
        with self._transaction(task_id) as tx:
            tx.doc = TaskRecord.model_validate({**tx.doc.model_dump(), "status": status, **changes})
            tx.publish(TaskStatusChanged(task_id=task_id, status=status))
        return tx.doc

    def mark_notice_posted(self, task_id: str) -> TaskRecord:
        """The task's conversation has been told that it ended."""
        return self._update(task_id, notice_posted=True)

    # ----- reactions ---------------------------------------------------------------------------

    def _question_asked(self, event: QuestionAsked) -> None:
        if event.task_id is not None:
            self.set_status(event.task_id, "awaiting_answer", question_id=event.question_id)

    def _question_wait_ended(self, event: QuestionWaitEnded) -> None:
        if event.task_id is not None:
            self.set_status(event.task_id, "running", question_id=None)


def _ending(status: str, error: str | None, result: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    """The changes that record a task's end."""
    changes: dict[str, Any] = {"status": status, "finished_at": utc_now(), "error": error, "notice_posted": False}
    if result is not None:
        changes["result"] = result
    changes.update({key: value for key, value in extra.items() if value is not None})
    return changes
