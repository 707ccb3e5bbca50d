"""Blocking questions agents ask the person (`.oboto/questions.json`)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Literal

from pydantic import Field

from oboto.core.models import Document, Record, utc_now

QuestionStatus = Literal["open", "answered", "cancelled"]
QUESTION_ID_PATTERN = r"^q-[0-9a-f]{8}$"


def new_question_id() -> str:
    return f"q-{secrets.token_hex(4)}"


class Question(Record):
    id: str = Field(default_factory=new_question_id, pattern=QUESTION_ID_PATTERN)
    question: str = Field(min_length=1)
    asked_by_task: str | None = None
    """The background task whose agent asked, when one did."""
    origin: str = "agent"
    """Who started that agent: agent-loop, schedule, user, agent."""
    status: QuestionStatus = "open"
    asked_at: datetime = Field(default_factory=utc_now)
    answered_at: datetime | None = None
    answer: str | None = None

    @property
    def asker(self) -> str:
        """Who asked, in words: "the agent loop (task t-1234abcd)"."""
        who = {"agent-loop": "the agent loop", "schedule": "a scheduled task"}.get(self.origin, "a background agent")
        return f"{who} (task {self.asked_by_task})" if self.asked_by_task else who

    @property
    def is_open(self) -> bool:
        return self.status == "open"


class QuestionBook(Document):
    """Every question, open and settled, oldest first."""

    questions: list[Question] = Field(default_factory=list)

    def find(self, question_id: str) -> Question | None:
        return next((question for question in self.questions if question.id == question_id), None)
