"""AgentLoopController: the autonomous heartbeat that wakes an agent on an interval.

Any process may play, pause, resume, stop or change the interval: each writes `.oboto/agent-loop.json`
under its lock. Only the runner ticks: one coroutine sleeps until the next tick is due (or until the state
changes), then builds the briefing and spawns one background task tagged `agent-loop`.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable

from oboto.agent.briefing import BriefingInputs, ChatEntry, QuestionEntry, ScheduleEntry, TaskEntry, build_briefing
from oboto.core.events import LoopStateChanged, LoopTicked, LoopTickSkipped, WorkspaceWarning
from oboto.core.locks import locked
from oboto.core.models import utc_now
from oboto.core.store import load_document, save_document
from oboto.services.conversation_models import MAIN_CONVERSATION
from oboto.services.loop_models import LoopError, LoopState, validate_interval
from oboto.services.task_models import ACTIVE_STATUSES, FINAL_STATUSES, TaskRecord

if TYPE_CHECKING:
    from oboto.services.runtime import Runtime

LOOP_ORIGIN = "agent-loop"
LOOP_TAG = "agent-loop"
# The ticker re-reads the state at least this often, even if no change was signalled.
MAX_SLEEP_SECONDS = 60.0
RETRY_AFTER_FAILURE_SECONDS = 30.0
CHAT_TAIL_MESSAGES = 200
FINISHED_TASKS_SHOWN = 5
ANSWERED_QUESTIONS_SHOWN = 5
# The person's latest prompts are, with the goals and recent tasks, what the briefing recalls memories for.
RECENT_PROMPTS_RECALLED = 2
MANUAL_PAUSE_REASON = "paused by the person"


class AgentLoopController:
    """The only writer of `.oboto/agent-loop.json`."""

    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime
        self.path = runtime.paths.agent_loop
        self.bus = runtime.bus
        self.is_runner = False
        self._ticker: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        runtime.tasks.add_finish_listener(self._task_finished)

    # ----- state (any process) -----------------------------------------------------------------

    def status(self) -> LoopState:
        """The persisted state; defaults (stopped, the configured interval) when there is none yet."""
        state = load_document(self.path, LoopState, self.bus)
        return state or LoopState(interval_seconds=self.runtime.settings.loop.interval_seconds)

    def _modify(self, change: Callable[[LoopState], None], *, reason: str | None = None) -> LoopState:
        """Read-modify-write under the file's lock; publishes LoopStateChanged when the state or interval moved."""
        with locked(self.path):
            before = self.status()
            after = before.model_copy(deep=True)
            change(after)
            if after != before:
                save_document(self.path, after)
        if (after.state, after.interval_seconds) != (before.state, before.interval_seconds):
            self.bus.publish(LoopStateChanged(state=after.state, interval_seconds=after.interval_seconds,
                                              reason=reason or after.paused_reason))
        self._poke()
        return after

    def play(self, interval: float | None = None) -> LoopState:
        """Start ticking (the first tick comes promptly); with `interval`, also set the interval."""
        seconds = validate_interval(interval) if interval is not None else None

        def change(state: LoopState) -> None:
            if seconds is not None:
                state.interval_seconds = seconds
            if state.state != "playing":
                state.next_tick_at = utc_now()
            elif seconds is not None:
                state.next_tick_at = _next_after_last(state)
            state.state, state.paused_reason, state.paused_for_question = "playing", None, None

        return self._modify(change, reason="played")

    def pause(self, reason: str | None = None) -> LoopState:
        """Stop future ticks until `resume()`; a running tick goes on. A manual pause outlasts answered questions."""

        def change(state: LoopState) -> None:
            if state.state == "stopped":
                raise LoopError("the agent loop is stopped; `oboto loop play` starts it")
            state.state, state.paused_for_question = "paused", None
            state.paused_reason = (reason or "").strip() or MANUAL_PAUSE_REASON

        return self._modify(change)

    def resume(self) -> LoopState:
        """Go on ticking after a pause; an overdue tick comes at once."""

        def change(state: LoopState) -> None:
            if state.state == "stopped":
                raise LoopError("the agent loop is stopped, not paused; `oboto loop play` starts it")
            if state.state == "paused":
                state.state, state.paused_reason, state.paused_for_question = "playing", None, None
                state.next_tick_at = state.next_tick_at or utc_now()

        return self._modify(change, reason="resumed")

    def stop(self) -> LoopState:
        """No more ticks; the interval, the invocation count and the last tick are kept."""

        def change(state: LoopState) -> None:
            state.state, state.next_tick_at = "stopped", None
            state.paused_reason, state.paused_for_question = None, None

        return self._modify(change, reason="stopped")

    def set_interval(self, seconds: float) -> LoopState:
        """Change the time between ticks (at least 10 s); the next tick moves to last tick + new interval."""
        interval = validate_interval(seconds)

        def change(state: LoopState) -> None:
            state.interval_seconds = interval
            if state.state != "stopped":
                state.next_tick_at = _next_after_last(state)

        return self._modify(change, reason="interval changed")

    def set_goals(self, goals: list[str]) -> LoopState:
        """What the loop works towards; the briefing recalls memories for them."""
        cleaned = [goal.strip() for goal in goals if goal.strip()]

        def change(state: LoopState) -> None:
            state.goals = cleaned

        return self._modify(change)

    def pause_for_question(self, question_id: str) -> LoopState:
        """A loop agent asked a blocking question: stop ticking until it is answered (if playing)."""

        def change(state: LoopState) -> None:
            if state.state == "playing":
                state.state, state.paused_for_question = "paused", question_id
                state.paused_reason = f"waiting for an answer to question {question_id}"

        return self._modify(change)

    def question_answered(self) -> LoopState:
        """Resume a loop that paused for a question once no question is open; a manual pause stays."""
        if self.runtime.questions.open_questions():
            return self.status()

        def change(state: LoopState) -> None:
            if state.state == "paused" and state.paused_for_question:
                state.state, state.paused_reason, state.paused_for_question = "playing", None, None
                state.next_tick_at = state.next_tick_at or utc_now()

        return self._modify(change, reason="the question was answered")

    # ----- the runner --------------------------------------------------------------------------

    def start_runner(self) -> None:
        """Tick from now on (in this process); a question answered while no runner ran resumes the loop."""
        self.is_runner = True
        self._wake = asyncio.Event()
        self.question_answered()
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever(), name="oboto-agent-loop")

    async def stop_runner(self) -> None:
        """Stop ticking; a loop task already running is the TaskManager's to finish or interrupt."""
        self.is_runner = False
        ticker, self._ticker, self._wake = self._ticker, None, None
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)

    def reload(self) -> None:
        """Another process changed the state file: look at it again now."""
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _tick_forever(self) -> None:
        wake = self._wake
        assert wake is not None
        # Ticks recall memories synchronously; opening the store once here keeps that off the event loop.
        try:
            await asyncio.to_thread(self.runtime.memory.warm_up)
        except Exception as failure:  # the loop ticks without memories rather than not at all
            self.bus.publish(WorkspaceWarning(message=f"the agent loop's memory could not be opened: {failure}"))
        while True:
            wake.clear()
            try:
                delay = self.tick_if_due()
            except Exception as failure:  # a failed tick (a full disk, a broken file) must not stop the heartbeat
                self.bus.publish(WorkspaceWarning(message=f"the agent loop could not tick: {failure}"))
                delay = RETRY_AFTER_FAILURE_SECONDS
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that coincides with a wake-up.
            try:
                async with asyncio.timeout(min(delay, MAX_SLEEP_SECONDS)):
                    await wake.wait()
            except TimeoutError:
                pass

    def tick_if_due(self) -> float:
        """Tick when playing and due; returns the seconds until the state should be looked at again.

        The runner's ticker calls this; tests call it to check a tick without waiting for the ticker.
        """
        event: LoopTicked | LoopTickSkipped
        with locked(self.path):
            state = self.status()
            now = utc_now()
            if state.state != "playing":
                return MAX_SLEEP_SECONDS
            if state.next_tick_at is not None and state.next_tick_at > now:
                return (state.next_tick_at - now).total_seconds()
            interval = state.interval_seconds
            running = self._running_loop_task()
            if running is not None:
                event = LoopTickSkipped(reason=f"the previous loop run {running.id} is still {running.status}")
            else:
                invocation = state.invocation_count + 1
                briefing = build_briefing(gather_briefing_inputs(self.runtime, invocation, now))
                record = self.runtime.tasks.spawn(
                    f"Agent loop run #{invocation}", briefing, origin=LOOP_ORIGIN, tags=[LOOP_TAG],
                    conversation=MAIN_CONVERSATION,
                )
                state.invocation_count, state.last_tick_at, state.current_task_id = invocation, now, record.id
                event = LoopTicked(invocation=invocation, task_id=record.id)
            state.next_tick_at = now + timedelta(seconds=interval)
            save_document(self.path, state)
        self.bus.publish(event)
        return interval

    def _running_loop_task(self) -> TaskRecord | None:
        """The loop's task that has not ended yet, if any (only one runs at a time)."""
        return next((record for record in self.runtime.tasks.list(ACTIVE_STATUSES) if record.origin == LOOP_ORIGIN),
                    None)

    def _task_finished(self, record: TaskRecord) -> None:
        if record.origin != LOOP_ORIGIN:
            return

        def change(state: LoopState) -> None:
            if state.current_task_id == record.id:
                state.current_task_id = None

        self._modify(change)


def _next_after_last(state: LoopState) -> datetime:
    """When the next tick is due after an interval change: one interval after the last tick (now if none)."""
    if state.last_tick_at is None:
        return state.next_tick_at or utc_now()
    return state.last_tick_at + timedelta(seconds=state.interval_seconds)


def gather_briefing_inputs(runtime: "Runtime", invocation: int, now: datetime) -> BriefingInputs:
    """Read everything the briefing shows from the workspace (the I/O half of the briefing)."""
    loop_state = runtime.agent_loop.status()
    idle = runtime.foreground.idle_seconds()
    chat = tuple(
        ChatEntry(role=message.role, content=message.content, at=message.created_at, author=message.author,
                  marker=message.marker)
        for message in runtime.conversations.messages(MAIN_CONVERSATION)[-CHAT_TAIL_MESSAGES:]
    )
    schedules = tuple(
        ScheduleEntry(
            id=schedule.id, name=schedule.name, status=schedule.status, interval_seconds=schedule.interval_seconds,
            cron=schedule.cron, last_run_at=schedule.last_run_at, next_run_at=schedule.next_run_at,
            run_count=schedule.run_count, last_result=schedule.last_result, paused_reason=schedule.paused_reason,
        )
        for schedule in runtime.scheduler.list()
    )
    records = runtime.tasks.list()
    running = tuple(_task_entry(record) for record in records if record.status in ACTIVE_STATUSES)
    finished = sorted((record for record in records if record.status in FINAL_STATUSES and record.finished_at),
                      key=lambda record: (record.finished_at, record.id))
    questions = runtime.questions.list()
    answered = [question for question in questions if question.status == "answered"][-ANSWERED_QUESTIONS_SHOWN:]
    still_open = [question for question in questions if question.is_open]
    return BriefingInputs(
        invocation=invocation,
        now=now,
        interval_seconds=loop_state.interval_seconds,
        persona=runtime.settings.agent.persona,
        workspace=str(runtime.paths.root),
        foreground_busy=runtime.foreground.is_busy(),
        idle_seconds=idle if math.isfinite(idle) else None,
        chat=chat,
        schedules=schedules,
        running_tasks=running,
        finished_tasks=tuple(_task_entry(record) for record in finished[-FINISHED_TASKS_SHOWN:][::-1]),
        goals=tuple(loop_state.goals),
        memories=runtime.memory.briefing_memories(
            loop_state.goals,
            [entry.content for entry in chat if entry.role == "user"][-RECENT_PROMPTS_RECALLED:]
            + [record.description for record in finished[-FINISHED_TASKS_SHOWN:] if record.origin != LOOP_ORIGIN],
            fallback=runtime.settings.agent.persona,
        ),
        questions=tuple(
            QuestionEntry(id=question.id, question=question.question, status=question.status,
                          answer=question.answer, answered_at=question.answered_at)
            for question in [*answered, *still_open]
        ),
    )


def _task_entry(record: TaskRecord) -> TaskEntry:
    outcome = record.result if record.status == "completed" else record.error
    return TaskEntry(id=record.id, description=record.description, status=record.status, origin=record.origin,
                     started_at=record.started_at, finished_at=record.finished_at, outcome=outcome)
