"""What the agent loop's briefing shows, read from the services that own it (the I/O half of the briefing).

`oboto.agent.briefing.build_briefing` turns these inputs into the Markdown packet; this class only reads:
the tail of `chat`, the schedules, the tasks, the questions, the memories recalled for the loop's goals,
and whether the person is busy.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Iterable

from oboto.agent.briefing import BriefingInputs, ChatEntry, QuestionEntry, ScheduleEntry, TaskEntry
from oboto.agent.profiles import ProfileError, ProfileLibrary
from oboto.core.config import AgentSettings
from oboto.services.conversation_models import MAIN_CONVERSATION
from oboto.services.conversations import ConversationManager
from oboto.services.foreground import ForegroundActivity
from oboto.services.loop_models import LoopState
from oboto.services.memory import MemoryStore
from oboto.services.questions import QuestionBroker
from oboto.services.schedule_models import Schedule
from oboto.services.scheduler import SchedulerService
from oboto.services.task_models import ACTIVE_STATUSES, FINAL_STATUSES, LOOP_ORIGIN, TaskRecord
from oboto.services.tasks import TaskManager

CHAT_TAIL_MESSAGES = 200
FINISHED_TASKS_SHOWN = 5
FAILED_TASKS_SHOWN = 5
RUNNING_TASKS_SHOWN = 10
# Each of the three kinds of schedule the loop most needs to see (failed, ran lately, due soonest), at most:
SCHEDULES_SHOWN_PER_KIND = 5
NOT_COMPLETED = FINAL_STATUSES - {"completed", "cancelled"}
ANSWERED_QUESTIONS_SHOWN = 5
# The person's latest prompts are, with the goals and recent tasks, what the briefing recalls memories for.
RECENT_PROMPTS_RECALLED = 2


class LoopBriefing:
    """Reads everything a loop tick's briefing shows; the loop itself only asks for `inputs`."""

    def __init__(self, root: Path, settings: AgentSettings, foreground: ForegroundActivity,
                 conversations: ConversationManager, scheduler: SchedulerService, tasks: TaskManager,
                 questions: QuestionBroker, memory: MemoryStore, profiles: ProfileLibrary,
                 loop_agent: str | None = None) -> None:
        self.root = root
        self.settings = settings
        self.profiles = profiles
        self.loop_agent = loop_agent
        """The profile the loop runs as (`[loop] agent`); its name and description head the Persona section."""
        self.foreground = foreground
        self.conversations = conversations
        self.scheduler = scheduler
        self.tasks = tasks
        self.questions = questions
        self.memory = memory

    def warm_up(self) -> None:
        """Open the memory store now (call it in a thread): ticks recall memories synchronously."""
        self.memory.warm_up()

    def open_question_count(self) -> int:
        return sum(1 for question in self.questions.list() if question.is_open)

    def _agent(self) -> tuple[str, str]:
        try:
            profile = self.profiles.get(self.loop_agent)
        except ProfileError as error:
            return self.loop_agent or "", f"(this profile cannot be used: {error})"
        return profile.name, profile.description

    def inputs(self, loop_state: LoopState, invocation: int, now: datetime) -> BriefingInputs:
        """The briefing of tick `invocation` at `now`, for a loop in `loop_state`."""
        idle = self.foreground.idle_seconds()
        agent = self._agent()
        chat = tuple(
            ChatEntry(role=message.role, content=message.content, at=message.created_at, author=message.author,
                      marker=message.marker)
            for message in self.conversations.messages(MAIN_CONVERSATION)[-CHAT_TAIL_MESSAGES:]
        )
        held = self.scheduler.current()
        shown = _schedules_worth_showing(held)
        records = self.tasks.list()
        running = [record for record in records if record.status in ACTIVE_STATUSES]
        ended = [record for record in records if record.status in FINAL_STATUSES and record.finished_at]
        finished = sorted(heapq.nlargest(FINISHED_TASKS_SHOWN, ended, key=_finish_order), key=_finish_order)
        failed = heapq.nlargest(FAILED_TASKS_SHOWN + FINISHED_TASKS_SHOWN,
                                (record for record in ended if record.status in NOT_COMPLETED), key=_finish_order)
        finished_ids = {record.id for record in finished}
        failed = [record for record in failed if record.id not in finished_ids][:FAILED_TASKS_SHOWN]
        questions = self.questions.list()
        answered = [question for question in questions if question.status == "answered"][-ANSWERED_QUESTIONS_SHOWN:]
        still_open = [question for question in questions if question.is_open]
        return BriefingInputs(
            invocation=invocation,
            now=now,
            interval_seconds=loop_state.interval_seconds,
            persona=self.settings.persona,
            agent_name=agent[0],
            agent_description=agent[1],
            workspace=str(self.root),
            foreground_busy=self.foreground.is_busy(),
            idle_seconds=idle if math.isfinite(idle) else None,
            chat=chat,
            schedules=tuple(_schedule_entry(schedule) for schedule in shown),
            schedule_total=len(held),
            schedule_states=_counted(schedule.status for schedule in held),
            task_states=_counted(record.status for record in records),
            running_tasks=tuple(_task_entry(record) for record in running[:RUNNING_TASKS_SHOWN]),
            running_total=len(running),
            failed_tasks=tuple(_task_entry(record) for record in failed),
            finished_tasks=tuple(_task_entry(record) for record in finished[-FINISHED_TASKS_SHOWN:][::-1]),
            goals=tuple(loop_state.goals),
            memories=self.memory.briefing_memories(
                loop_state.goals,
                [entry.content for entry in chat if entry.role == "user"][-RECENT_PROMPTS_RECALLED:]
                + [record.description for record in finished[-FINISHED_TASKS_SHOWN:] if record.origin != LOOP_ORIGIN],
                fallback=self.settings.persona,
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


def _finish_order(record: TaskRecord) -> tuple[datetime, str]:
    assert record.finished_at is not None
    return record.finished_at, record.id


def _counted(states: Iterable[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(Counter(states).items()))


def _schedules_worth_showing(schedules: list[Schedule]) -> list[Schedule]:
    """The schedules that failed last, ran most recently or are due soonest, a few of each, in creation order;
    picking with bounded heaps keeps the briefing's size and cost flat in the number of schedules."""
    per_kind = SCHEDULES_SHOWN_PER_KIND
    ran = [schedule for schedule in schedules if schedule.last_run_at is not None]
    failing = heapq.nlargest(per_kind, (schedule for schedule in ran if schedule.consecutive_failures),
                             key=lambda schedule: (schedule.last_run_at, schedule.id))
    recent = heapq.nlargest(per_kind, ran, key=lambda schedule: (schedule.last_run_at, schedule.id))
    due = heapq.nsmallest(per_kind, (schedule for schedule in schedules
                                     if schedule.status == "active" and schedule.next_run_at is not None),
                          key=lambda schedule: (schedule.next_run_at, schedule.id))
    paused = [schedule for schedule in schedules if schedule.status == "paused"][:per_kind]
    chosen = {schedule.id: schedule for schedule in [*failing, *recent, *due, *paused]}
    return sorted(chosen.values(), key=lambda schedule: (schedule.created_at, schedule.id))


def _schedule_entry(schedule: Schedule) -> ScheduleEntry:
    return ScheduleEntry(
        id=schedule.id, name=schedule.name, status=schedule.status, interval_seconds=schedule.interval_seconds,
        cron=schedule.cron, last_run_at=schedule.last_run_at, next_run_at=schedule.next_run_at,
        run_count=schedule.run_count, last_result=schedule.last_result, paused_reason=schedule.paused_reason,
    )
