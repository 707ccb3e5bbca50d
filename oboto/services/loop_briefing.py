"""What the agent loop's briefing shows, read from the services that own it (the I/O half of the briefing).

`oboto.agent.briefing.build_briefing` turns these inputs into the Markdown packet; this class only reads:
the tail of `chat`, the schedules, the tasks, the questions, the memories recalled for the loop's goals,
and whether the person is busy.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

from oboto.agent.briefing import BriefingInputs, ChatEntry, QuestionEntry, ScheduleEntry, TaskEntry
from oboto.agent.profiles import ProfileError, ProfileLibrary
from oboto.core.config import AgentSettings
from oboto.services.conversation_models import MAIN_CONVERSATION
from oboto.services.conversations import ConversationManager
from oboto.services.foreground import ForegroundActivity
from oboto.services.loop_models import LoopState
from oboto.services.memory import MemoryStore
from oboto.services.questions import QuestionBroker
from oboto.services.scheduler import SchedulerService
from oboto.services.task_models import ACTIVE_STATUSES, FINAL_STATUSES, LOOP_ORIGIN, TaskRecord
from oboto.services.tasks import TaskManager

CHAT_TAIL_MESSAGES = 200
FINISHED_TASKS_SHOWN = 5
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
        schedules = tuple(
            ScheduleEntry(
                id=schedule.id, name=schedule.name, status=schedule.status, interval_seconds=schedule.interval_seconds,
                cron=schedule.cron, last_run_at=schedule.last_run_at, next_run_at=schedule.next_run_at,
                run_count=schedule.run_count, last_result=schedule.last_result, paused_reason=schedule.paused_reason,
            )
            for schedule in self.scheduler.list()
        )
        records = self.tasks.list()
        running = tuple(_task_entry(record) for record in records if record.status in ACTIVE_STATUSES)
        finished = sorted((record for record in records if record.status in FINAL_STATUSES and record.finished_at),
                          key=lambda record: (record.finished_at, record.id))
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
            schedules=schedules,
            running_tasks=running,
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
