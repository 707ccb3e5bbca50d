"""Blocking questions agents ask the person (`.oboto/questions.json`)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Literal

from pydantic import Field

from oboto.core.models import Document, Record, utc_now

QuestionStatus = Literal["open", "answered", "cancelled"]
QuestionKind = Literal["question", "approval"]
ApprovalVerdict = Literal["allow", "always", "deny"]
_APPROVAL_WORDS: dict[str, ApprovalVerdict] = {
    "allow": "allow", "yes": "allow", "y": "allow", "always": "always", "a": "always",
    "deny": "deny", "no": "deny", "n": "deny",
}
QUESTION_ID_PATTERN = r"^q-[0-9a-f]{8}$"


def new_question_id() -> str:
    return f"q-{secrets.token_hex(4)}"


class ApprovalDetails(Record):
    """What a background agent asks to do: the call, why it asks, and what it would change."""

    tool: str
    tier: str
    subject: str | None = None
    arguments: dict | None = None
    why: str = ""
    preview: str | None = None
    """The unified diff of an edit, when there is one."""
    summary: str = ""


def parse_approval_answer(text: str) -> tuple[ApprovalVerdict, str | None] | None:
    """`allow`, `always`, `deny [REASON]` (or y/a/n) → (verdict, reason); None when it is none of these."""
    words = text.strip().split(None, 1)
    if not words:
        return None
    verdict = _APPROVAL_WORDS.get(words[0].lower().rstrip(":,."))
    if verdict is None:
        return None
    reason = words[1].strip() if len(words) > 1 else None
    return verdict, reason or None


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
    kind: QuestionKind = "question"
    approval: ApprovalDetails | None = None
    """For kind approval: the call waiting for the person's allow, always or deny."""

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
