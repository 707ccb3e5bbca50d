"""An in-process model for tests: scripted replies and tool calls, no server, no litellm.

`FakeModel` has the shape of `agent.turn.ChatModel`, so it can stand in for the Runtime's model client
(`Runtime(..., llm=FakeModel([...]))`) or be handed to `run_turn` directly. It records every request.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from oboto.llm.types import LLMError, LLMResponse, ToolCallRequest, Usage
from oboto.testing.server import NO_SCRIPTED_REPLY


@dataclass(frozen=True)
class ModelRequest:
    """One call the model got: a copy of the messages as they were then, and the tool schemas offered."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None


class FakeModel:
    """Answers each call with the next scripted reply (an LLMError in the script is raised instead)."""

    def __init__(self, replies: Iterable[LLMResponse | LLMError] = (), *, small: bool = False) -> None:
        self._replies: deque[LLMResponse | LLMError] = deque(replies)
        self.requests: list[ModelRequest] = []
        self.small = small
        """True: the agent loop treats it as a small local model (short prompt, file tools only)."""

    def add(self, *replies: LLMResponse | LLMError) -> None:
        """Queue more replies after those already scripted."""
        self._replies.extend(replies)

    @property
    def seen(self) -> list[list[dict[str, Any]]]:
        """The messages of each request, oldest first."""
        return [request.messages for request in self.requests]

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        *,
        on_text: Callable[[str], None] | None = None,
        on_restart: Callable[[], None] | None = None,
        on_retry: Any = None,
        stream: bool = True,
    ) -> LLMResponse:
        self.requests.append(ModelRequest([dict(message) for message in messages], tools))
        reply = self._replies.popleft() if self._replies else answer(NO_SCRIPTED_REPLY)
        if isinstance(reply, LLMError):
            raise reply
        if on_text is not None and reply.text:
            on_text(reply.text)
        return reply


def answer(text: str, *, tokens: int = 5) -> LLMResponse:
    """A final answer that used `tokens` prompt and `tokens` completion tokens."""
    return LLMResponse(text=text, usage=Usage(tokens, tokens))


def tool_call(name: str, arguments: str = "{}", call_id: str = "c1") -> ToolCallRequest:
    """One call as the model makes it: `arguments` is the raw JSON text (it may be broken on purpose)."""
    return ToolCallRequest(id=call_id, name=name, arguments=arguments)


def calling(*calls: ToolCallRequest, tokens: int = 10) -> LLMResponse:
    """A reply that only calls tools, using `tokens` prompt and `tokens` completion tokens."""
    return LLMResponse(text="", tool_calls=list(calls), usage=Usage(tokens, tokens))
