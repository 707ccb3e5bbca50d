"""What a model call returns, and how it fails, independent of the provider library."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ErrorKind = Literal[
    "rate_limit", "server", "timeout", "connection", "auth", "context_length",
    "bad_request", "not_found", "not_configured", "unknown",
]

TRANSIENT_KINDS: frozenset[str] = frozenset({"rate_limit", "server", "timeout", "connection"})


@dataclass
class ToolCallRequest:
    """One tool call the model asked for; `arguments` is the raw JSON text the model produced."""

    id: str
    name: str
    arguments: str

    def to_message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: "Usage") -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost_usd += other.cost_usd


@dataclass
class LLMResponse:
    text: str
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    model: str = ""
    attempts: int = 1


class LLMError(Exception):
    """A model call that failed, described in plain words for the person."""

    def __init__(self, kind: ErrorKind, message: str, *, attempts: int = 1, status_code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.attempts = attempts
        self.status_code = status_code

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS
