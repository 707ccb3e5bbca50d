"""One agent turn: model → tool calls → results → model … until a final answer or a limit."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from oboto.agent.small_model import SmallModelFit
from oboto.agent.tools.base import ToolContext, ToolRegistry, ToolResult
from oboto.llm.types import LLMError, LLMResponse, ToolCallRequest, Usage

TurnStatus = Literal["completed", "max_iterations", "budget_exceeded", "repeated_calls", "failed", "refused", "busy"]
"""`refused`: the request could not be sent (nothing was stored); `busy`: another turn held the conversation."""


class ChatModel(Protocol):
    """What the turn needs from a model client (litellm, or a model run in-process)."""

    small: bool
    """A small local model: its turns get the short prompt and the file tools of agent/small_model.py."""

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        *,
        on_text: Any = None,
        on_restart: Any = None,
        on_retry: Any = None,
        stream: bool = True,
    ) -> LLMResponse: ...


@dataclass
class TurnLimits:
    max_iterations: int = 25
    token_budget: int = 400_000
    repeat_limit: int = 3


class TurnObserver:
    """Hooks a caller overrides to show and persist a turn as it happens; all default to nothing."""

    def reply_started(self) -> None: ...
    def text_delta(self, delta: str) -> None: ...
    def reply_restarted(self) -> None: ...
    def reply_finished(self, response: LLMResponse) -> None: ...
    def retrying(self, attempt: int, delay: float, error: LLMError) -> None: ...
    def tool_started(self, call: ToolCallRequest) -> None: ...
    def tool_finished(self, call: ToolCallRequest, result: ToolResult, duration_ms: float) -> None: ...


@dataclass
class TurnOutcome:
    status: TurnStatus
    final_text: str
    usage: Usage = field(default_factory=Usage)
    iterations: int = 0
    tool_calls: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "completed"


def _call_key(call: ToolCallRequest) -> tuple[str, str]:
    """Identical calls compare equal whatever the key order or spacing of their JSON arguments."""
    try:
        normalised = orjson.dumps(orjson.loads(call.arguments or "{}"), option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONDecodeError:
        normalised = call.arguments
    return call.name, normalised


class _RepeatBreaker:
    """Stops an agent that keeps making the very same tool call."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._last: tuple[str, str] | None = None
        self._count = 0

    def record(self, call: ToolCallRequest) -> int:
        key = _call_key(call)
        self._count = self._count + 1 if key == self._last else 1
        self._last = key
        return self._count


async def run_turn(
    model: ChatModel,
    registry: ToolRegistry,
    ctx: ToolContext,
    messages: list[dict[str, Any]],
    limits: TurnLimits,
    observer: TurnObserver | None = None,
    *,
    fit: SmallModelFit | None = None,
) -> TurnOutcome:
    """Run the tool loop on `messages` (appending to it) and return how the turn ended. A small model's turn
    uses `fit` when the caller already made it (the workspace is listed once per turn).

    Cancellation propagates as CancelledError the moment it is requested: no further tool call starts.
    """
    observer = observer or TurnObserver()
    if unavailable := await registry.prepare():
        _tell_unavailable(messages, unavailable)
    # In a thread: listing the workspace reads its ignore files and asks git for the global excludes.
    if model.small and fit is None:
        fit = await asyncio.to_thread(SmallModelFit, ctx)
    if fit is not None:
        _replace_system_prompt(messages, fit.system_prompt())
    usage = Usage()
    breaker = _RepeatBreaker(limits.repeat_limit)
    iterations = 0
    tool_calls = 0
    last_text = ""
    while True:
        if iterations >= limits.max_iterations:
            return TurnOutcome(
                "max_iterations", last_text, usage, iterations, tool_calls,
                error=f"stopped after {iterations} model calls (the iteration limit)",
            )
        iterations += 1
        observer.reply_started()
        try:
            schemas = registry.schemas(ctx) or None
            response = await model.complete(
                messages,
                fit.schemas(schemas) if fit is not None else schemas,
                on_text=observer.text_delta,
                on_restart=observer.reply_restarted,
                on_retry=observer.retrying,
            )
        except LLMError as error:
            return TurnOutcome("failed", last_text, usage, iterations, tool_calls, error=error.message)
        usage.add(response.usage)
        last_text = response.text or last_text
        observer.reply_finished(response)
        assistant: dict[str, Any] = {"role": "assistant", "content": response.text or ""}
        if response.tool_calls:
            assistant["tool_calls"] = [call.to_message() for call in response.tool_calls]
        messages.append(assistant)
        if not response.tool_calls:
            return TurnOutcome("completed", response.text, usage, iterations, tool_calls)
        if usage.total_tokens > limits.token_budget:
            _answer_unrun_calls(messages, response.tool_calls, "the turn's token budget is spent", observer)
            return TurnOutcome(
                "budget_exceeded", last_text, usage, iterations, tool_calls,
                error=f"stopped: {usage.total_tokens} tokens used, over the budget of {limits.token_budget}",
            )
        for position, call in enumerate(response.tool_calls):
            repeats = breaker.record(call)
            if repeats > limits.repeat_limit:
                _answer_unrun_calls(messages, response.tool_calls[position:], "the same call kept repeating", observer)
                return TurnOutcome(
                    "repeated_calls", last_text, usage, iterations, tool_calls,
                    error=f"stopped: {call.name} was called {repeats} times in a row with the same arguments",
                )
            observer.tool_started(call)
            started = time.perf_counter()
            if repeats == limits.repeat_limit:
                result = ToolResult.error(
                    f"this exact {call.name} call was made {repeats} times in a row; it was not run again. "
                    "Change the arguments, try another approach, or give your answer."
                )
            else:
                result = await registry.execute(call.name, call.arguments, ctx, call_id=call.id)
            tool_calls += 1
            observer.tool_finished(call, result, (time.perf_counter() - started) * 1000)
            content = fit.result_text(call, result) if fit is not None else result.content
            messages.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": content})


def _replace_system_prompt(messages: list[dict[str, Any]], prompt: str) -> None:
    if messages and messages[0].get("role") == "system":
        messages[0] = {"role": "system", "content": prompt}
    else:
        messages.insert(0, {"role": "system", "content": prompt})


def _tell_unavailable(messages: list[dict[str, Any]], problems: list[str]) -> None:
    """A tool source that failed (an MCP server that would not start) costs the turn its tools, nothing more."""
    note = "Some tools are not available in this turn:\n" + "\n".join(f"- {problem}" for problem in problems)
    if messages and messages[0].get("role") == "system":
        messages[0] = {**messages[0], "content": f"{messages[0]['content']}\n\n{note}"}
    else:
        messages.insert(0, {"role": "system", "content": note})


def _answer_unrun_calls(
    messages: list[dict[str, Any]], calls: list[ToolCallRequest], why: str, observer: TurnObserver
) -> None:
    """Every tool call the model made gets a result, so the history stays valid for the next turn."""
    for call in calls:
        result = ToolResult(False, f"Not run: {why}.")
        observer.tool_finished(call, result, 0.0)
        messages.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result.content})
