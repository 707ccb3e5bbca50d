"""Running an agent turn inside a conversation: history in, every message persisted as it happens."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from oboto.agent.prompt import system_prompt
from oboto.agent.tools.base import ToolContext, ToolResult
from oboto.agent.turn import TurnLimits, TurnObserver, TurnOutcome, run_turn
from oboto.core.events import ToolCallFinished, TurnFinished, TurnStarted
from oboto.llm.types import LLMError, LLMResponse, ToolCallRequest
from oboto.services.change_models import ChangeAuthor
from oboto.services.conversation_models import Message
from oboto.services.conversations import ConversationManager, StreamingReply

if TYPE_CHECKING:
    from oboto.services.runtime import Runtime

HISTORY_CHAR_BUDGET = 400_000
INTERRUPTED_NOTE = "\n\n[this reply was interrupted before it finished]"


def to_llm_messages(history: list[Message]) -> list[dict[str, Any]]:
    """Conversation messages as chat-completion messages, always a valid sequence for a provider."""
    result: list[dict[str, Any]] = []
    pending_calls: dict[str, str] = {}

    def settle_pending() -> None:
        for call_id, name in pending_calls.items():
            result.append({"role": "tool", "tool_call_id": call_id, "name": name,
                           "content": "Error: interrupted before this tool finished."})
        pending_calls.clear()

    for message in history:
        if message.role != "tool":
            settle_pending()
        if message.role == "user":
            result.append({"role": "user", "content": message.content})
        elif message.role == "assistant":
            content = message.content + (INTERRUPTED_NOTE if message.status != "complete" else "")
            entry: dict[str, Any] = {"role": "assistant", "content": content}
            if message.tool_calls and message.status == "complete":
                entry["tool_calls"] = message.tool_calls
                pending_calls = {call["id"]: call["function"]["name"] for call in message.tool_calls}
            result.append(entry)
        elif message.role == "tool":
            if message.tool_call_id not in pending_calls:
                continue  # a result whose call was lost would be rejected by the provider
            pending_calls.pop(message.tool_call_id)
            result.append({"role": "tool", "tool_call_id": message.tool_call_id, "name": message.name,
                           "content": message.content})
        else:
            source = f" from {message.author}" if message.author else ""
            result.append({"role": "user", "content": f"[oboto {message.marker or 'notice'}{source}]\n{message.content}"})
    settle_pending()
    return _trim_to_budget(result, HISTORY_CHAR_BUDGET)


def _trim_to_budget(messages: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """Drop the oldest messages beyond the budget, never starting on an orphaned tool result."""
    total = 0
    start = len(messages)
    for position in range(len(messages) - 1, -1, -1):
        total += len(str(messages[position].get("content") or "")) + len(str(messages[position].get("tool_calls") or ""))
        if total > budget:
            break
        start = position
    while start < len(messages) and messages[start]["role"] == "tool":
        start += 1
    return messages[start:]


class PersistingObserver(TurnObserver):
    """Writes each reply and tool result into the conversation as it happens, then tells `outer`."""

    def __init__(self, runtime: "Runtime", conversation: str, ctx: ToolContext, outer: TurnObserver | None,
                 *, author: str | None = None) -> None:
        self.conversations: ConversationManager = runtime.conversations
        self.bus = runtime.bus
        self.conversation = conversation
        self.ctx = ctx
        self.outer = outer or TurnObserver()
        self.author = author
        self.stream: StreamingReply | None = None

    def reply_started(self) -> None:
        self.stream = self.conversations.start_stream(self.conversation, author=self.author)
        self.outer.reply_started()

    def text_delta(self, delta: str) -> None:
        if self.stream is not None:
            self.stream.feed(delta)
        self.outer.text_delta(delta)

    def reply_restarted(self) -> None:
        if self.stream is not None:
            self.stream.restart()
        self.outer.reply_restarted()

    def reply_finished(self, response: LLMResponse) -> None:
        if self.stream is not None:
            calls = [call.to_message() for call in response.tool_calls] or None
            self.stream.finish(calls)
            self.stream = None
        self.outer.reply_finished(response)

    def retrying(self, attempt: int, delay: float, error: LLMError) -> None:
        if self.stream is not None:
            self.stream.retry_scheduled(attempt, delay, error.message)
        self.outer.retrying(attempt, delay, error)

    def tool_started(self, call: ToolCallRequest) -> None:
        self.outer.tool_started(call)

    def tool_finished(self, call: ToolCallRequest, result: ToolResult, duration_ms: float) -> None:
        self.conversations.append(
            self.conversation,
            Message(role="tool", tool_call_id=call.id, name=call.name, content=result.content, ok=result.ok,
                    author=self.author),
        )
        self.bus.publish(ToolCallFinished(conversation=self.conversation, task_id=self.ctx.task_id, tool=call.name,
                                          ok=result.ok, duration_ms=round(duration_ms, 2)))
        self.outer.tool_finished(call, result, duration_ms)

    def close_open_reply(self) -> None:
        """A reply cut short (failure or cancel) keeps what was shown, marked interrupted."""
        if self.stream is not None:
            self.stream.interrupt()
            self.stream = None


async def run_conversation_turn(
    runtime: "Runtime",
    conversation: str,
    prompt: str,
    *,
    observer: TurnObserver | None = None,
    ctx: ToolContext | None = None,
    limits: TurnLimits | None = None,
) -> TurnOutcome:
    """Append the person's `prompt` to `conversation`, run the agent, persist everything it says and does."""
    conversations = runtime.conversations
    ctx = ctx or runtime.tool_context(conversation=conversation)
    agent = runtime.settings.agent
    profile = ctx.profile
    limits = limits or TurnLimits(
        (profile and profile.max_iterations) or agent.max_iterations,
        (profile and profile.token_budget) or agent.token_budget, agent.repeat_limit,
    )
    request = conversations.append(conversation, Message(role="user", content=prompt))
    system = system_prompt(ctx)
    if memories := await runtime.memory.context_for_turn(prompt):
        system = f"{system}\n\n{memories}"
    messages = [{"role": "system", "content": system}, *to_llm_messages(conversations.messages(conversation))]
    persisting = PersistingObserver(runtime, conversation, ctx, observer)
    runtime.bus.publish(TurnStarted(conversation=conversation, task_id=ctx.task_id))
    try:
        model = runtime.llm_for(profile.model if profile else None)
        async with runtime.checkpoints.around(ChangeAuthor.turn(conversation, request.id)) as change:
            ctx.changes = change
            outcome = await run_turn(model, runtime.tools, ctx, messages, limits, persisting)
    except asyncio.CancelledError:
        persisting.close_open_reply()
        conversations.post_notice(conversation, "The reply was cancelled.", marker="turn-stopped")
        runtime.bus.publish(TurnFinished(conversation=conversation, task_id=ctx.task_id, status="cancelled",
                                         iterations=0, total_tokens=0))
        raise
    persisting.close_open_reply()
    if not outcome.ok:
        conversations.post_notice(conversation, outcome.error or outcome.status, marker="turn-stopped")
    runtime.bus.publish(TurnFinished(
        conversation=conversation, task_id=ctx.task_id, status=outcome.status, iterations=outcome.iterations,
        total_tokens=outcome.usage.total_tokens, cost_usd=outcome.usage.cost_usd, error=outcome.error,
    ))
    return outcome
