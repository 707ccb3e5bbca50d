"""Every event oboto publishes: small typed records named as facts, one module."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from oboto.core.models import utc_now


class Event(BaseModel):
    """Base of all events; `kind` is the stable name written to `.oboto/events.jsonl`."""

    model_config = ConfigDict(extra="allow")

    kind: ClassVar[str] = "event"
    at: datetime = Field(default_factory=utc_now)

    def to_record(self) -> dict[str, Any]:
        return {"type": self.kind, **self.model_dump(mode="json")}


class FileQuarantined(Event):
    """A workspace file failed to parse or validate and was moved aside."""

    kind: ClassVar[str] = "workspace:file-quarantined"
    path: str
    moved_to: str
    reason: str


class WorkspaceWarning(Event):
    """Something the person should know about that did not stop the app."""

    kind: ClassVar[str] = "workspace:warning"
    message: str


class ConversationCreated(Event):
    """A conversation was created."""

    kind: ClassVar[str] = "conversation:created"
    name: str
    parent: str | None = None


class ConversationRenamed(Event):
    """A conversation was renamed."""

    kind: ClassVar[str] = "conversation:renamed"
    old: str
    new: str


class ConversationDeleted(Event):
    """A conversation was deleted."""

    kind: ClassVar[str] = "conversation:deleted"
    name: str


class ConversationSwitched(Event):
    """The active conversation changed."""

    kind: ClassVar[str] = "conversation:switched"
    name: str


class MessageAppended(Event):
    """A complete message was persisted to a conversation."""

    kind: ClassVar[str] = "conversation:message"
    conversation: str
    message_id: str
    role: str
    marker: str | None = None


class ChildReported(Event):
    """A child conversation reported back to its parent."""

    kind: ClassVar[str] = "conversation:reported"
    child: str
    parent: str
    status: str
    summary: str


class TurnStarted(Event):
    """An agent turn began."""

    kind: ClassVar[str] = "agent:turn-started"
    conversation: str | None = None
    task_id: str | None = None


class TurnFinished(Event):
    """An agent turn ended (status says how)."""

    kind: ClassVar[str] = "agent:turn-finished"
    conversation: str | None = None
    task_id: str | None = None
    status: str
    iterations: int
    total_tokens: int
    cost_usd: float = 0.0
    error: str | None = None


class ToolCallFinished(Event):
    """A tool call ran (or was refused) inside an agent turn."""

    kind: ClassVar[str] = "agent:tool-call"
    conversation: str | None = None
    task_id: str | None = None
    tool: str
    ok: bool
    duration_ms: float
