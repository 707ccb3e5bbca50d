"""SchedulerService: recurring tasks kept in `.oboto/schedules.json`, fired by the runner.

Any process may create, edit, pause, resume, delete and trigger schedules; every change is one
`document_transaction` of the whole file, because the CLI of another process writes the same file.
Only the runner fires: one timing loop sleeps until the earliest due time in a heap of
`(next_run_at, id)` entries (stale entries are dropped when they surface), so idle schedules cost
nothing however many there are.

Firing re-reads the file under the lock and fires only what is still due *on disk*, then advances
`next_run_at` from the fire time, so missed runs coalesce into one and no due time fires twice
(not after a reload mid-fire, not across processes).

A corrupt file is quarantined by `load_document` and never written over: the runner keeps the
schedules it had loaded and keeps firing them from memory, without recreating the file, until a
real change (create, edit, pause, ...) is requested; that change writes a new file.

How a run went (last result, consecutive failures) is recorded when its task's TaskFinished arrives.
"""

from __future__ import annotations

import asyncio
import heapq
import os
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, TypeVar

from oboto.core import durable
from oboto.core.bus import EventBus
from oboto.core.errors import RequestRefused
from oboto.core.events import Event, ScheduleChanged, ScheduleFired, ScheduleSkipped, TaskFinished, WorkspaceWarning
from oboto.core.models import utc_now
from oboto.core.paths import WorkspacePaths
from oboto.core.store import document_transaction, load_document
from oboto.services.schedule_models import (
    FAILURES_BEFORE_PAUSE,
    MAX_RECENT_TASKS,
    Schedule,
    ScheduleDocument,
    ScheduleError,
    check_schedule_id,
    check_tags,
    new_schedule_id,
    optional_text,
    validated_schedule,
)
from oboto.services.runner import call_in_loop
from oboto.services.task_models import TaskRecord
from oboto.services.tasks import TaskError, TaskManager

T = TypeVar("T")
Change = Callable[[dict[str, Schedule], list[Event]], T]

MAX_SLEEP_SECONDS = 60.0
"""The timing loop re-reads the wall clock at least this often, so a clock jump is noticed."""
RETRY_SECONDS = 5.0
RESULT_CHARS = 200
EDITABLE_FIELDS = frozenset({"name", "description", "query", "interval_seconds", "cron", "max_runs",
                             "skip_if_running", "tags", "agent", "notify"})
Signature = tuple[int, int, int]


@dataclass(frozen=True)
class TriggerOutcome:
    """What `trigger_now` did: fired a task, skipped (with the reason), or asked the runner to fire."""

    schedule: Schedule
    task_id: str | None = None
    skipped_reason: str | None = None
    deferred: bool = False


class SchedulerService:
    """The only writer of `.oboto/schedules.json`."""

    def __init__(self, paths: WorkspacePaths, bus: EventBus, tasks: TaskManager) -> None:
        self.paths = paths
        self.bus = bus
        self.tasks = tasks
        self.is_runner = False
        self._memory: dict[str, Schedule] = {}
        self._extra: dict[str, Any] = {}
        self._detached = False
        """True while the in-memory schedules outlive a quarantined file (see the module docstring)."""
        self._signature: Signature | None = None
        self._synced_wall = 0.0
        """When this process last read or wrote the file (wall clock), to date quarantines by others."""
        self._heap: list[tuple[float, str]] = []
        self._wake: asyncio.Event | None = None
        self._wake_loop: asyncio.AbstractEventLoop | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._triggers_pending = False
        bus.subscribe(self._task_finished, TaskFinished)

    # ----- reading -----------------------------------------------------------------------------

    def list(self) -> list[Schedule]:
        """Every schedule, oldest first."""
        return sorted(self._snapshot().values(), key=lambda schedule: (schedule.created_at, schedule.id))

    def current(self) -> list[Schedule]:
        """Every schedule, in no particular order: the runner's in-memory view (kept in step with the file by
        `reload`), so a loop tick reads no file; any other process reads the file."""
        if self.is_runner:
            return list(self._memory.values())
        return list(self._snapshot().values())

    def get(self, schedule_id: str) -> Schedule:
        return _require(self._snapshot(), schedule_id)

    def _snapshot(self) -> dict[str, Schedule]:
        document, _signature = self._read_disk()
        if document is None:
            return dict(self._memory) if self._detached else {}
        return {schedule.id: schedule for schedule in document.schedules}

    def _read_disk(self) -> tuple[ScheduleDocument | None, Signature | None]:
        """The document and the signature of the file it came from; a corrupt file is quarantined."""
        path = self.paths.schedules
        signature = _file_signature(path)  # taken first: a later replacement then always looks new
        document = load_document(path, ScheduleDocument, self.bus)
        if document is None:
            self._detached = self._detached or signature is not None
            return None, None
        return document, signature

    # ----- requests (any process) --------------------------------------------------------------

    def create(self, name: str, query: str, *, description: str | None = None, interval_seconds: float | None = None,
               cron: str | None = None, max_runs: int | None = None, skip_if_running: bool = True,
               tags: Iterable[str] = (), agent: str | None = None, notify: str | None = None) -> Schedule:
        """Add a schedule; its first run is one interval (or the next cron time) from now. `agent` names the
        profile its runs use; `notify` which runs post a notice (None: the workspace's `[schedules] notify`)."""
        now = utc_now()
        schedule = validated_schedule(dict(
            name=name, query=query, description=optional_text(description), interval_seconds=interval_seconds,
            cron=cron, max_runs=max_runs, skip_if_running=skip_if_running, tags=check_tags(tags), created_at=now,
            agent=self.tasks.check_agent(agent), notify=notify,
        ))

        def change(schedules: dict[str, Schedule], events: list[Event]) -> Schedule:
            created = schedule
            while created.id in schedules:
                created = created.model_copy(update={"id": new_schedule_id()})
            created = created.model_copy(update={"next_run_at": created.next_after(now)})
            schedules[created.id] = created
            events.append(ScheduleChanged(schedule_id=created.id, change="created"))
            return created

        return self._transact(change, real_change=True)

    def update(self, schedule_id: str, **fields: Any) -> Schedule:
        """Change what a schedule asks or how often it runs; a new cadence counts from now."""
        check_schedule_id(schedule_id)
        unknown = set(fields) - EDITABLE_FIELDS
        if unknown:
            raise ScheduleError(
                f"cannot change {', '.join(sorted(unknown))}; editable fields: {', '.join(sorted(EDITABLE_FIELDS))}"
            )
        if "tags" in fields:
            fields["tags"] = check_tags(fields["tags"])
        if "agent" in fields:
            fields["agent"] = self.tasks.check_agent(fields["agent"])

        def change(schedules: dict[str, Schedule], events: list[Event]) -> Schedule:
            current = _require(schedules, schedule_id)
            data = current.model_dump()
            data.update(fields)
            # naming one cadence replaces the other, so switching interval <-> cron is one call
            if fields.get("interval_seconds") is not None and "cron" not in fields:
                data["cron"] = None
            if fields.get("cron") is not None and "interval_seconds" not in fields:
                data["interval_seconds"] = None
            updated = validated_schedule(data)
            if updated.status == "active" and (updated.interval_seconds, updated.cron) != (
                    current.interval_seconds, current.cron):
                updated = updated.model_copy(update={"next_run_at": updated.next_after(utc_now())})
            schedules[schedule_id] = updated
            events.append(ScheduleChanged(schedule_id=schedule_id, change="updated"))
            return updated

        return self._transact(change, real_change=True)

    def pause(self, schedule_id: str, reason: str | None = None) -> Schedule:
        check_schedule_id(schedule_id)
        why = (reason or "").strip() or "paused on request"

        def change(schedules: dict[str, Schedule], events: list[Event]) -> Schedule:
            current = _require(schedules, schedule_id)
            if current.status == "paused":
                return current
            schedules[schedule_id] = _paused(current, why, events)
            return schedules[schedule_id]

        return self._transact(change, real_change=True)

    def resume(self, schedule_id: str) -> Schedule:
        """Activate a paused schedule; its next run is one interval (or the next cron time) from now."""
        check_schedule_id(schedule_id)

        def change(schedules: dict[str, Schedule], events: list[Event]) -> Schedule:
            current = _require(schedules, schedule_id)
            if current.status == "active":
                return current
            if current.max_runs is not None and current.run_count >= current.max_runs:
                raise ScheduleError(
                    f"{schedule_id} has already run {current.run_count} of its {current.max_runs} runs; "
                    "raise its run limit (or clear it) first"
                )
            resumed = current.model_copy(update={
                "status": "active", "paused_reason": None, "consecutive_failures": 0,
                "next_run_at": current.next_after(utc_now()),
            })
            schedules[schedule_id] = resumed
            events.append(ScheduleChanged(schedule_id=schedule_id, change="resumed"))
            return resumed

        return self._transact(change, real_change=True)

    def delete(self, schedule_id: str) -> Schedule:
        check_schedule_id(schedule_id)

        def change(schedules: dict[str, Schedule], events: list[Event]) -> Schedule:
            removed = _require(schedules, schedule_id)
            del schedules[schedule_id]
            events.append(ScheduleChanged(schedule_id=schedule_id, change="deleted"))
            return removed

        return self._transact(change, real_change=True)

    def trigger_now(self, schedule_id: str) -> TriggerOutcome:
        """Run a paused or active schedule once now (still honouring skip_if_running); its cadence is unchanged.

        Outside the runner this records `trigger_requested_at`, which the runner acts on when it reloads.
        """
        check_schedule_id(schedule_id)

        def fire(schedules: dict[str, Schedule], events: list[Event]) -> TriggerOutcome:
            current = _require(schedules, schedule_id)
            updated = self._run_once(current.model_copy(update={"trigger_requested_at": None}), utc_now(), events,
                                     manual=True)
            schedules[schedule_id] = updated
            skipped = next((event.reason for event in events if isinstance(event, ScheduleSkipped)), None)
            task_id = updated.last_task_id if updated.run_count > current.run_count else None
            return TriggerOutcome(updated, task_id=task_id, skipped_reason=skipped)

        def request(schedules: dict[str, Schedule], events: list[Event]) -> TriggerOutcome:
            current = _require(schedules, schedule_id)
            schedules[schedule_id] = current.model_copy(update={"trigger_requested_at": utc_now()})
            events.append(ScheduleChanged(schedule_id=schedule_id, change="trigger-requested"))
            return TriggerOutcome(schedules[schedule_id], deferred=True)

        return self._transact(fire if self.is_runner else request, real_change=True)

    # ----- the one read-modify-write -----------------------------------------------------------

    def _transact(self, change: Change[T], *, real_change: bool) -> T:
        """Apply `change` to the schedules on disk under the file lock, save, and publish its events.

        `real_change` is False for the runner's own bookkeeping (firings, results), which must not
        recreate a file that was quarantined.
        """
        path = self.paths.schedules
        # Taken before the lock: a write by another process in between then looks new, never old.
        signature = _file_signature(path)
        with document_transaction(path, ScheduleDocument, self.bus, default=ScheduleDocument) as tx:
            if tx.found:
                self._detached = False
                self._extra = dict(tx.doc.model_extra or {})
                schedules = {schedule.id: schedule for schedule in tx.doc.schedules}
            else:
                self._detached = self._detached or signature is not None
                signature = None
                schedules = dict(self._memory) if self._detached else {}
            before = dict(schedules)
            events: list[Event] = []
            result = change(schedules, events)
            changed = any(before.get(key) is not value for key, value in schedules.items()) or (
                len(before) != len(schedules))
            if changed and (real_change or not self._detached):
                tx.doc = ScheduleDocument(schedules=list(schedules.values()), **self._extra)
                tx.save_unchanged()
            for event in events:
                tx.publish(event)
            self._adopt(schedules)

        def settled() -> None:
            nonlocal signature
            if tx.written is not None:
                signature, self._detached = _signature_of(tx.written), False
            self._signature = signature
            self._synced_wall = time.time()

        durable.after_commit(settled)  # within a writer job, the file is in place only once the batch commits
        return result

    def _adopt(self, schedules: dict[str, Schedule]) -> None:
        """Make `schedules` the runner's view: queue due times that are new, note trigger requests."""
        previous, self._memory = self._memory, schedules
        if not self.is_runner:
            return
        entries = []
        for schedule in schedules.values():
            if schedule.trigger_requested_at is not None:
                self._triggers_pending = True
            if schedule.status != "active" or schedule.next_run_at is None:
                continue
            old = previous.get(schedule.id)
            if old is None or old.next_run_at != schedule.next_run_at or old.status != schedule.status:
                entries.append((schedule.next_run_at.timestamp(), schedule.id))
        for entry in entries:
            heapq.heappush(self._heap, entry)
        if len(self._heap) > 2 * len(schedules) + 64:  # too many stale entries: start over
            self._rebuild_heap()
        if (entries or self._triggers_pending) and self._wake is not None:
            call_in_loop(self._wake_loop, self._wake.set)

    def _rebuild_heap(self) -> None:
        self._heap = [(schedule.next_run_at.timestamp(), schedule.id) for schedule in self._memory.values()
                      if schedule.status == "active" and schedule.next_run_at is not None]
        heapq.heapify(self._heap)
        self._triggers_pending = any(schedule.trigger_requested_at for schedule in self._memory.values())

    # ----- the runner --------------------------------------------------------------------------

    def start_runner(self) -> None:
        """Load the schedules, honour their persisted due times, and start the timing loop."""
        if self._loop_task is not None:
            self._loop_task.cancel()
        self.is_runner = True
        self._memory, self._heap = {}, []
        self._wake, self._wake_loop = asyncio.Event(), asyncio.get_running_loop()
        self._transact(lambda schedules, events: self._reconcile(schedules, events, announce=False),
                       real_change=False)
        self._loop_task = asyncio.get_running_loop().create_task(self._timing_loop(), name="oboto-scheduler")

    async def stop_runner(self) -> None:
        self.is_runner = False
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._heap = []
        self._wake = None

    def reload(self) -> None:
        """`schedules.json` changed on disk (another process or a hand edit): validate it and re-plan."""
        if not self.is_runner:
            return
        signature = _file_signature(self.paths.schedules)
        if signature == self._signature:
            return  # our own write, or nothing new
        if signature is None and not self._detached and self._memory and self._quarantined_elsewhere():
            self._detached, self._signature = True, None
            self.bus.publish(WorkspaceWarning(message=(
                f"{self.paths.schedules} was moved aside as corrupt; the {len(self._memory)} schedules already "
                "loaded keep running and are written to a new file at the next change"
            )))
            return
        self._transact(lambda schedules, events: self._reconcile(schedules, events, announce=True),
                       real_change=False)

    def _quarantined_elsewhere(self) -> bool:
        """Whether another process moved the file aside since this one last read or wrote it."""
        pattern = f"{self.paths.schedules.name}.corrupt-*"
        return any(path.stat().st_ctime >= self._synced_wall - 1 for path in self.paths.state_dir.glob(pattern))

    def _reconcile(self, schedules: dict[str, Schedule], events: list[Event], *, announce: bool) -> None:
        """Fill in due times a person left out, and re-plan schedules whose cadence was edited by hand."""
        now = utc_now()
        for schedule_id, schedule in list(schedules.items()):
            old = self._memory.get(schedule_id)
            if schedule.status == "active":
                cadence_edited = old is not None and old.next_run_at == schedule.next_run_at and (
                    old.interval_seconds, old.cron) != (schedule.interval_seconds, schedule.cron)
                if schedule.next_run_at is None or cadence_edited:
                    schedules[schedule_id] = schedule.model_copy(update={"next_run_at": schedule.next_after(now)})
            if announce and old != schedule:
                events.append(ScheduleChanged(schedule_id=schedule_id, change="reloaded",
                                              reason="schedules.json was changed on disk"))
        if announce:
            for schedule_id in self._memory.keys() - schedules.keys():
                events.append(ScheduleChanged(schedule_id=schedule_id, change="deleted",
                                              reason="removed from schedules.json on disk"))

    async def _timing_loop(self) -> None:
        """Sleep until the earliest due time (or a change), fire what is due, repeat."""
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                if self._triggers_pending:
                    self._triggers_pending = False
                    await durable.writer.run_async(lambda: self._transact(self._fire_requested, real_change=False))
                due = self._pop_due(time.time())
                if due:
                    # One writer job: every run's record and schedules.json commit together, off the event loop.
                    await durable.writer.run_async(lambda: self._transact(
                        lambda schedules, events: self._fire_due(due, schedules, events), real_change=False))
            except Exception as failure:  # a full disk or a broken file must not end the timing loop
                self.bus.publish(WorkspaceWarning(message=f"the scheduler could not fire schedules: {failure}"))
                self._rebuild_heap()
                await asyncio.sleep(RETRY_SECONDS)
                continue
            delay = MAX_SLEEP_SECONDS
            if self._heap:
                delay = min(delay, max(0.0, self._heap[0][0] - time.time()))
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _pop_due(self, now: float) -> list[str]:
        due: list[str] = []
        while self._heap and self._heap[0][0] <= now:
            stamp, schedule_id = heapq.heappop(self._heap)
            schedule = self._memory.get(schedule_id)
            # lazy invalidation: an entry counts only if it is still the schedule's current due time
            if (schedule is not None and schedule.status == "active" and schedule.next_run_at is not None
                    and schedule.next_run_at.timestamp() == stamp and schedule_id not in due):
                due.append(schedule_id)
        return due

    def _fire_due(self, due: list[str], schedules: dict[str, Schedule], events: list[Event]) -> None:
        with self.tasks.spawning_many():
            self._fire_each(due, schedules, events)

    def _fire_each(self, due: list[str], schedules: dict[str, Schedule], events: list[Event]) -> None:
        now = utc_now()
        for schedule_id in due:
            schedule = schedules.get(schedule_id)
            if schedule is None:
                continue  # deleted by another process a moment ago
            if schedule.status != "active":
                reason = f"the schedule is paused ({schedule.paused_reason or 'no reason given'})"
                events.append(ScheduleSkipped(schedule_id=schedule_id, reason=reason))
                continue
            if schedule.next_run_at is None or schedule.next_run_at > now:
                continue  # already fired, or moved, on disk: this due time is no longer current
            schedules[schedule_id] = self._run_once(schedule, now, events, manual=False)

    def _fire_requested(self, schedules: dict[str, Schedule], events: list[Event]) -> None:
        now = utc_now()
        for schedule_id, schedule in list(schedules.items()):
            if schedule.trigger_requested_at is not None:
                schedules[schedule_id] = self._run_once(
                    schedule.model_copy(update={"trigger_requested_at": None}), now, events, manual=True)

    def _run_once(self, schedule: Schedule, now: datetime, events: list[Event], *, manual: bool) -> Schedule:
        """Spawn one run (or record why not); a regular tick always moves next_run_at on from `now`."""
        next_run = schedule.next_run_at if manual else schedule.next_after(now)
        reason = self._skip_reason(schedule)
        task: TaskRecord | None = None
        if reason is None:
            try:
                task = self._spawn(schedule, manual=manual)
            except RequestRefused as error:  # too deep, or its agent profile is gone
                reason = f"the task could not be started: {error}"
        if task is None:
            events.append(ScheduleSkipped(schedule_id=schedule.id, reason=reason or "not started"))
            return schedule.model_copy(update={"next_run_at": next_run})
        run_count = schedule.run_count + 1
        changes: dict[str, Any] = {
            "run_count": run_count, "last_run_at": now, "last_task_id": task.id, "next_run_at": next_run,
            "recent_task_ids": [*schedule.recent_task_ids, task.id][-MAX_RECENT_TASKS:],
        }
        events.append(ScheduleFired(schedule_id=schedule.id, task_id=task.id, run_count=run_count, manual=manual))
        updated = schedule.model_copy(update=changes)
        if schedule.max_runs is not None and run_count >= schedule.max_runs and schedule.status == "active":
            updated = _paused(updated, f"reached its run limit ({schedule.max_runs} runs)", events)
        return updated

    def _skip_reason(self, schedule: Schedule) -> str | None:
        if not schedule.skip_if_running or schedule.last_task_id is None:
            return None
        try:
            previous = self.tasks.get(schedule.last_task_id)
        except TaskError:
            return None  # the previous run's record is gone, so it cannot be running
        if self.tasks.under_way(previous):
            return f"the previous run {previous.id} is still {previous.status}, and runs may not overlap"
        return None

    def _spawn(self, schedule: Schedule, *, manual: bool) -> TaskRecord:
        how = "triggered by hand" if manual else schedule.cadence
        context = f"This is run {schedule.run_count + 1} of the recurring task {schedule.name!r} ({how})."
        if schedule.description:
            context += f"\n{schedule.description}"
        return self.tasks.spawn(
            f"{schedule.name} (schedule {schedule.id})", schedule.query, context=context, conversation="chat",
            origin="schedule", tags=["schedule", schedule.id, *schedule.tags], schedule_id=schedule.id,
            agent=schedule.agent, notify=schedule.notify,
        )

    def _task_finished(self, event: TaskFinished) -> None:
        """Record how a scheduled run went; five failures in a row pause the schedule."""
        if event.schedule_id is None:
            return
        record = self.tasks.get(event.task_id)

        def change(schedules: dict[str, Schedule], events: list[Event]) -> None:
            schedule = schedules.get(record.schedule_id or "")
            if schedule is None:
                return
            failed = record.status in ("failed", "timed_out")
            failures = schedule.consecutive_failures + 1 if failed else (
                0 if record.status == "completed" else schedule.consecutive_failures)
            detail = (record.result if record.status == "completed" else record.error) or ""
            summary = f"{record.status}: {' '.join(detail.split())}" if detail.strip() else record.status
            if len(summary) > RESULT_CHARS:
                summary = summary[:RESULT_CHARS - 1].rstrip() + "…"
            updated = schedule.model_copy(update={"last_result": summary, "consecutive_failures": failures})
            if failed and failures >= FAILURES_BEFORE_PAUSE and schedule.status == "active":
                updated = _paused(updated, f"paused after {failures} consecutive failed runs (last: {summary})",
                                  events)
            schedules[schedule.id] = updated

        durable.writer.post(lambda: self._transact(change, real_change=False), self._not_recorded)

    def _not_recorded(self, failure: BaseException) -> None:
        self.bus.publish(WorkspaceWarning(message=f"a scheduled run's result was not recorded: {failure}"))


# ----- helpers ------------------------------------------------------------------------------------


def _require(schedules: dict[str, Schedule], schedule_id: str) -> Schedule:
    check_schedule_id(schedule_id)
    try:
        return schedules[schedule_id]
    except KeyError:
        raise ScheduleError(f"no schedule with id {schedule_id}") from None


def _paused(schedule: Schedule, reason: str, events: list[Event]) -> Schedule:
    events.append(ScheduleChanged(schedule_id=schedule.id, change="paused", reason=reason))
    return schedule.model_copy(update={"status": "paused", "paused_reason": reason, "next_run_at": None})


def _file_signature(path: os.PathLike[str]) -> Signature | None:
    """Identity of the file's current version: every atomic replace gives a new inode."""
    try:
        return _signature_of(os.stat(path))
    except FileNotFoundError:
        return None


def _signature_of(stat: os.stat_result) -> Signature:
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)
