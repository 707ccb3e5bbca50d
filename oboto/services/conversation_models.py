"""What a conversation is made of: messages (one JSONL line each) and the index of conversations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from oboto.core.errors import RequestRefused
from oboto.core.models import Document, Record, utc_now
from oboto.core.names import NAME_PATTERN, NAME_RULE

MAIN_CONVERSATION = "chat"
COMPACTION_MARKER = "compaction"
"""A system message that stands, for the model, for every message up to its `compacted_through`."""
CLEARED_MARKER = "context-cleared"
"""A system message after which the model is given nothing from before it (`/clear`)."""

Role = Literal["system", "user", "assistant", "tool"]
MessageStatus = Literal["complete", "streaming", "interrupted"]


class ConversationNameError(RequestRefused, ValueError):
    """A conversation name that is not allowed; the message says why."""


def normalise_name(raw: str) -> str:
    """Lower-case and validate a conversation name; never maps a bad name onto a different one."""
    name = raw.strip().lower() if isinstance(raw, str) else ""
    if not NAME_PATTERN.fullmatch(name):
        shown = raw if isinstance(raw, str) else repr(raw)
        raise ConversationNameError(
            f"invalid conversation name {shown!r}: {NAME_RULE}"
        )
    return name


def new_message_id() -> str:
    return uuid.uuid4().hex[:16]


class TokenUsage(Record):
    """What one model call cost, as the provider reported it (estimated when it did not)."""

    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    cost_usd: float = Field(0.0, ge=0)


class Message(Record):
    """One message; a streamed reply is written as snapshots with the same id, the last one wins."""

    version: int = 1
    id: str = Field(default_factory=new_message_id)
    role: Role
    content: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    status: MessageStatus = "complete"
    marker: str | None = None
    """What kind of notice a system message is: report, task-notice, background-agent, question, answer, turn-stopped,
    compaction, context-cleared."""
    author: str | None = None
    pid: int | None = None
    """The process writing a streaming snapshot, so a reader can tell a live stream from a dead one."""
    ok: bool | None = None
    """Whether the tool succeeded (tool results only), as the tool said: the result's text does not tell."""
    model: str | None = None
    """The model that wrote a reply or a compaction summary."""
    usage: TokenUsage | None = None
    """The tokens and cost of the model call behind a reply or a compaction summary."""
    compacted_through: str | None = None
    """A compaction summary: the id of the last message it stands for (those stay in the file, unsent)."""
    scheduled: bool | None = None
    """A task notice that reports only runs of schedules: moved to the conversation's archive once older than
    `tasks.retention_days`."""

    @model_validator(mode="before")
    @classmethod
    def _legacy_tool_success(cls, data: Any) -> Any:
        """Tool results stored before `ok` was recorded: failed tools answered `Error: …` (ToolResult.error)."""
        if isinstance(data, dict) and data.get("role") == "tool" and data.get("ok") is None:
            return {**data, "ok": not str(data.get("content") or "").startswith("Error:")}
        return data


class ConversationInfo(Record):
    name: str
    parent: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    message_count: int = Field(0, ge=0)
    agent: str | None = None
    """The agent profile this conversation's turns run under; None: the default (`general`)."""
    model: str | None = None
    """The model this conversation's turns use (`/model`); None: the agent's model, else the workspace's."""


class ConversationIndex(Document):
    active: str = MAIN_CONVERSATION
    conversations: dict[str, ConversationInfo] = Field(default_factory=dict)
