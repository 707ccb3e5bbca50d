"""A background task's record (`.oboto/tasks/<id>.json`)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Literal

from pydantic import Field

from oboto.core.config import ScheduleNotify
from oboto.core.models import Document, Record, utc_now

TaskStatus = Literal["queued", "running", "awaiting_answer", "completed", "failed", "cancelled", "timed_out", "interrupted"]
TaskOrigin = Literal["user", "agent", "schedule", "agent-loop"]
LOOP_ORIGIN = "agent-loop"
"""The origin of the agent loop's own runs."""
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled", "timed_out", "interrupted"})
ACTIVE_STATUSES: frozenset[str] = frozenset({"queued", "running", "awaiting_answer"})
TASK_ID_PATTERN = r"^t-[0-9a-f]{8}$"


def new_task_id() -> str:
    return f"t-{secrets.token_hex(4)}"


class TaskUsage(Record):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class TaskRecord(Document):
    id: str = Field(default_factory=new_task_id, pattern=TASK_ID_PATTERN)
    description: str = Field(min_length=1, max_length=500)
    query: str = Field(min_length=1)
    context: str | None = None
    conversation: str = "chat"
    """The conversation that gets the completion notice."""
    status: TaskStatus = "queued"
    origin: TaskOrigin = "user"
    tags: list[str] = Field(default_factory=list)
    agent: str | None = None
    """The agent profile it runs as; None: the default agent."""
    model: str | None = None
    """The model it was asked to use; None: its profile's, else the workspace's."""
    follow_ups: list[str] = Field(default_factory=list)
    """Follow-up prompts given with `continue_task`; the last one is what its next run answers."""
    runs: int = Field(0, ge=0)
    """How many times its agent has run (more than once when it was continued)."""
    schedule_id: str | None = None
    parent_task_id: str | None = None
    depth: int = Field(1, ge=0)
    read_only: bool = False
    """Read-only for its whole run."""
    guarded: bool = False
    """Read-only whenever the person's own turn is running (loop and schedule agents, and what they spawn)."""
    timeout_seconds: float = Field(900.0, gt=0)
    max_iterations: int = Field(30, ge=1)
    token_budget: int = Field(400_000, ge=1)
    created_at: datetime = Field(default_factory=utc_now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: str | None = None
    error: str | None = None
    usage: TaskUsage = Field(default_factory=TaskUsage)
    iterations: int = 0
    tool_calls: int = 0
    runner_pid: int | None = None
    cancel_requested: bool = False
    cancel_reason: str | None = None
    """Why it was cancelled, when someone said (e.g. `emergency stop`); recorded as its error."""
    question_id: str | None = None
    files_changed: int = 0
    """Workspace files its checkpointed change touched (`oboto changes --task ID` lists them)."""
    notice_posted: bool = False
    """Whether the parent conversation has been told that this task ended (or, for a scheduled run that was not
    to be reported, that it was decided not to)."""
    notify: ScheduleNotify | None = None
    """A scheduled run: which endings post a notice (its schedule's setting); None: `[schedules] notify`."""

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def elapsed_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or utc_now()
        return max(0.0, (end - self.started_at).total_seconds())

    def summary_line(self) -> str:
        return f"{self.id} [{self.status}] {self.description}"
