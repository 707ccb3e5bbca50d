"""AgentLoopController: the autonomous heartbeat that wakes an agent on an interval.

Any process may play, pause, resume, stop or change the interval: each writes `.oboto/agent-loop.json`
under its lock. Only the runner ticks: one coroutine sleeps until the next tick is due (or until the state
changes), then builds the briefing and spawns one background task tagged `agent-loop`.

The controller reacts to other services through the bus: a question its agent asks pauses it
(QuestionAsked), the last open question settled resumes it (QuestionsSettled), and its task ending
clears the current run (TaskFinished).
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from oboto.agent.briefing import BriefingInputs, build_briefing
from oboto.core.bus import EventBus
from oboto.core.config import LoopSettings
from oboto.core.events import (
    LoopGoalsChanged,
    LoopStateChanged,
    LoopTicked,
    LoopTickSkipped,
    QuestionAsked,
    QuestionsSettled,
    TaskFinished,
    WorkspaceWarning,
)
from oboto.core.models import utc_now
from oboto.core.store import DocumentTransaction, document_transaction, load_document
from oboto.services.conversation_models import MAIN_CONVERSATION
from oboto.services.loop_briefing import LoopBriefing
from oboto.services.loop_models import LoopError, LoopState, validate_interval
from oboto.services.runner import call_in_loop
from oboto.services.task_models import ACTIVE_STATUSES, LOOP_ORIGIN, TaskRecord
from oboto.services.tasks import TaskManager

LOOP_TAG = "agent-loop"
# The ticker re-reads the state at least this often, even if no change was signalled.
MAX_SLEEP_SECONDS = 60.0
RETRY_AFTER_FAILURE_SECONDS = 30.0
MANUAL_PAUSE_REASON = "paused by the person"


class AgentLoopController:
    """The only writer of `.oboto/agent-loop.json`."""

    def __init__(self, path: Path, settings: LoopSettings, bus: EventBus, tasks: TaskManager,
                 briefing: LoopBriefing) -> None:
        self.path = path
        self.settings = settings
        self.bus = bus
        self.tasks = tasks
        self.briefing = briefing
        self.is_runner = False
        self._ticker: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        bus.subscribe(self._question_asked, QuestionAsked)
        bus.subscribe(self._questions_settled, QuestionsSettled)
        bus.subscribe(self._task_finished, TaskFinished)

    # ----- state (any process) -----------------------------------------------------------------

    def status(self) -> LoopState:
        """The persisted state; defaults (stopped, the configured interval) when there is none yet."""
        return load_document(self.path, LoopState, self.bus) or self._default_state()

    def _default_state(self) -> LoopState:
        return LoopState(interval_seconds=self.settings.interval_seconds)

    def _transaction(self) -> AbstractContextManager[DocumentTransaction[LoopState]]:
        return document_transaction(self.path, LoopState, self.bus, default=self._default_state)

    def _modify(self, change: Callable[[LoopState], None], *, reason: str | None = None) -> LoopState:
        """Change the state file; publishes LoopStateChanged when the state or the interval moved."""
        with self._transaction() as tx:
            before = (tx.doc.state, tx.doc.interval_seconds)
            change(tx.doc)
            after = tx.doc
            if (after.state, after.interval_seconds) != before:
                tx.publish(LoopStateChanged(state=after.state, interval_seconds=after.interval_seconds,
                                            reason=reason or after.paused_reason,
                                            invocation_count=after.invocation_count,
                                            open_questions=self._open_questions()))
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
        """What the loop works towards; the briefing recalls memories for them. An empty list clears them."""
        cleaned = list(dict.fromkeys(goal.strip() for goal in goals if goal.strip()))
        return self._change_goals(lambda _current: cleaned)

    def add_goal(self, goal: str) -> LoopState:
        """One more goal, after the others (a goal already set is not added twice)."""
        if not goal.strip():
            raise LoopError("the goal is empty")
        return self._change_goals(lambda current: list(dict.fromkeys([*current, goal.strip()])))

    def _change_goals(self, change: Callable[[list[str]], list[str]]) -> LoopState:
        with self._transaction() as tx:
            goals = change(list(tx.doc.goals))
            if goals != tx.doc.goals:
                tx.doc.goals = goals
                tx.publish(LoopGoalsChanged(goals=goals))
        return tx.doc

    def _question_asked(self, event: QuestionAsked) -> None:
        """A loop agent asked a blocking question: stop ticking until it is answered (if playing)."""
        if event.origin != LOOP_ORIGIN:
            return

        def change(state: LoopState) -> None:
            if state.state == "playing":
                state.state, state.paused_for_question = "paused", event.question_id
                state.paused_reason = f"waiting for an answer to question {event.question_id}"

        self._modify(change)

    def _questions_settled(self, _event: QuestionsSettled) -> None:
        """No question is open any more: a loop that paused for one plays again; a manual pause stays."""

        def change(state: LoopState) -> None:
            if state.state == "paused" and state.paused_for_question:
                state.state, state.paused_reason, state.paused_for_question = "playing", None, None
                state.next_tick_at = state.next_tick_at or utc_now()

        self._modify(change, reason="the question was answered")

    # ----- the runner --------------------------------------------------------------------------

    def start_runner(self) -> None:
        """Tick from now on (in this process)."""
        self.is_runner = True
        self._wake, self._loop = asyncio.Event(), asyncio.get_running_loop()
        self._ticker = self._loop.create_task(self._tick_forever(), name="oboto-agent-loop")

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
            call_in_loop(self._loop, self._wake.set)

    async def _tick_forever(self) -> None:
        wake = self._wake
        assert wake is not None
        memory_open = False
        while True:
            wake.clear()
            if not memory_open and self.status().state == "playing":
                memory_open = True
                await self._open_memory()
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

    async def _open_memory(self) -> None:
        """Ticks recall memories synchronously: the store is opened on a thread first, once the loop plays (a
        runner whose loop is stopped never loads it)."""
        try:
            await asyncio.to_thread(self.briefing.warm_up)
        except Exception as failure:  # the loop ticks without memories rather than not at all
            self.bus.publish(WorkspaceWarning(message=f"the agent loop's memory could not be opened: {failure}"))

    def tick_if_due(self) -> float:
        """Tick when playing and due; returns the seconds until the state should be looked at again.

        The runner's ticker calls this; tests call it to check a tick without waiting for the ticker.
        """
        with self._transaction() as tx:
            state = tx.doc
            now = utc_now()
            if state.state != "playing":
                return MAX_SLEEP_SECONDS
            if state.next_tick_at is not None and state.next_tick_at > now:
                return (state.next_tick_at - now).total_seconds()
            interval = state.interval_seconds
            running = self._running_loop_task()
            if running is not None:
                tx.publish(LoopTickSkipped(reason=f"the previous loop run {running.id} is still {running.status}",
                                           invocation_count=state.invocation_count,
                                           open_questions=self._open_questions()))
            else:
                invocation = state.invocation_count + 1
                record = self.tasks.spawn(
                    f"Agent loop run #{invocation}", build_briefing(self.briefing.inputs(state, invocation, now)),
                    origin=LOOP_ORIGIN, tags=[LOOP_TAG], conversation=MAIN_CONVERSATION, agent=self.settings.agent,
                )
                state.invocation_count, state.last_tick_at, state.current_task_id = invocation, now, record.id
                tx.publish(LoopTicked(invocation=invocation, task_id=record.id, open_questions=self._open_questions()))
            state.next_tick_at = now + timedelta(seconds=interval)
        return interval

    def briefing_inputs(self, invocation: int, now: datetime) -> BriefingInputs:
        """What the briefing of tick `invocation` at `now` would show (without ticking)."""
        return self.briefing.inputs(self.status(), invocation, now)

    def next_briefing(self, now: datetime | None = None) -> str:
        """The packet the next tick would send, as of `now` (for a person checking what the loop sees)."""
        state = self.status()
        return build_briefing(self.briefing.inputs(state, state.invocation_count + 1, now or utc_now()))

    def _open_questions(self) -> int:
        return self.briefing.open_question_count()

    def _running_loop_task(self) -> TaskRecord | None:
        """The loop's task that has not ended yet, if any (only one runs at a time)."""
        return next((record for record in self.tasks.list(ACTIVE_STATUSES) if record.origin == LOOP_ORIGIN), None)

    def _task_finished(self, event: TaskFinished) -> None:
        if event.origin != LOOP_ORIGIN:
            return

        def change(state: LoopState) -> None:
            if state.current_task_id == event.task_id:
                state.current_task_id = None

        self._modify(change)


def _next_after_last(state: LoopState) -> datetime:
    """When the next tick is due after an interval change: one interval after the last tick (now if none)."""
    if state.last_tick_at is None:
        return state.next_tick_at or utc_now()
    return state.last_tick_at + timedelta(seconds=state.interval_seconds)
