"""Running an agent turn inside a conversation: history in (fitted to the model's context), every message
persisted as it happens — by the durable writer, so the event loop never waits for a disk sync."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import TYPE_CHECKING, Callable

from oboto.agent.prompt import system_prompt
from oboto.agent.small_model import SmallModelFit
from oboto.agent.tools.base import ToolContext, ToolResult
from oboto.agent.turn import ChatModel, TurnLimits, TurnObserver, TurnOutcome, run_turn
from oboto.core import durable
from oboto.core.events import PromptSubmitted, ToolCallFinished, ToolCallStarted, TurnFinished, TurnStarted
from oboto.llm.types import LLMError, LLMResponse, ToolCallRequest
from oboto.services.change_models import ChangeAuthor
from oboto.services.context import Compaction, CompactionFailed, PromptTooLarge
from oboto.services.conversation_models import Message, TokenUsage
from oboto.services.conversations import ConversationManager
from oboto.services.streaming_reply import StreamingReply

if TYPE_CHECKING:
    from oboto.services.runtime import Runtime


class TurnWrites:
    """The conversation writes of one turn, handed to the durable writer in the order they are made.

    The writer runs its jobs one after another, so the file holds them in that order; each write's event is
    published once it is durable (`durable.after_commit`). A write that failed is raised by the next one handed
    over, or by `settle`, so the turn learns of it as when it wrote itself.
    """

    def __init__(self) -> None:
        self._pending: list[concurrent.futures.Future[object]] = []

    def __call__(self, write: Callable[[], object]) -> None:
        self._forget_done()
        self._pending.append(durable.writer.submit(write))

    async def settle(self) -> None:
        """Wait until every write handed over is durable; raise the first that failed."""
        if self._pending:
            await asyncio.gather(*map(asyncio.wrap_future, self._pending), return_exceptions=True)
        self._forget_done()

    def _forget_done(self) -> None:
        """Drop the writes that are done; raise the first of them that failed."""
        pending, failure = [], None
        for future in self._pending:
            if not future.done():
                pending.append(future)
            elif failure is None and not future.cancelled():
                failure = future.exception()
        self._pending = pending
        if failure is not None:
            raise failure


class PersistingObserver(TurnObserver):
    """Writes each reply and tool result into the conversation as it happens (through `writes`), then tells
    `outer`."""

    def __init__(self, runtime: "Runtime", conversation: str, ctx: ToolContext, outer: TurnObserver | None,
                 *, author: str | None = None) -> None:
        self.conversations: ConversationManager = runtime.conversations
        self.bus = runtime.bus
        self.conversation = conversation
        self.ctx = ctx
        self.outer = outer or TurnObserver()
        self.author = author
        self.stream: StreamingReply | None = None
        self.writes = TurnWrites()

    def reply_started(self) -> None:
        self.stream = self.conversations.start_stream(self.conversation, author=self.author, writes=self.writes)
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
            usage = response.usage
            self.stream.finish(calls, model=response.model or None, usage=TokenUsage(
                prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens, cost_usd=usage.cost_usd))
            self.stream = None
        self.outer.reply_finished(response)

    def retrying(self, attempt: int, delay: float, error: LLMError) -> None:
        if self.stream is not None:
            self.stream.retry_scheduled(attempt, delay, error.message)
        self.outer.retrying(attempt, delay, error)

    def tool_started(self, call: ToolCallRequest) -> None:
        self.bus.publish(ToolCallStarted(conversation=self.conversation, task_id=self.ctx.task_id, tool=call.name))
        self.outer.tool_started(call)

    def tool_finished(self, call: ToolCallRequest, result: ToolResult, duration_ms: float) -> None:
        stored = Message(role="tool", tool_call_id=call.id, name=call.name, content=result.content, ok=result.ok,
                         author=self.author)
        finished = ToolCallFinished(conversation=self.conversation, task_id=self.ctx.task_id, tool=call.name,
                                    ok=result.ok, duration_ms=round(duration_ms, 2))

        def store() -> None:
            self.conversations.append(self.conversation, stored)
            durable.after_commit(lambda: self.bus.publish(finished))

        self.writes(store)
        self.outer.tool_finished(call, result, duration_ms)

    def post_notice(self, text: str) -> None:
        """Say in the conversation why the turn stopped (after everything it wrote before)."""
        self.writes(lambda: self.conversations.post_notice(self.conversation, text, marker="turn-stopped"))

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
    """Fit `prompt` into `conversation`'s context (compacting it if needed), store it, run the agent, and
    persist everything it says and does. A prompt that cannot be sent is refused with nothing stored."""
    conversations = runtime.conversations
    ctx = ctx or runtime.tool_context(conversation=conversation)
    agent = runtime.settings.agent
    profile = ctx.profile
    limits = limits or TurnLimits(
        (profile and profile.max_iterations) or agent.max_iterations,
        (profile and profile.token_budget) or agent.token_budget, agent.repeat_limit,
    )
    request = Message(role="user", content=prompt)
    runtime.bus.publish(TurnStarted(conversation=conversation, task_id=ctx.task_id))
    runtime.bus.publish(PromptSubmitted(conversation=conversation, message_id=request.id, text=prompt))
    try:
        prepared = await _prepare(runtime, conversation, prompt, ctx)
    except asyncio.CancelledError:
        _cancelled(runtime, conversation, ctx)  # before anything was stored
        raise
    if isinstance(prepared, TurnOutcome):
        return _ended(runtime, conversation, ctx, prepared)
    model, system, fit = prepared
    persisting = PersistingObserver(runtime, conversation, ctx, observer)
    try:
        await conversations.append_async(conversation, request)  # stored even if the turn is cancelled meanwhile
        messages = [{"role": "system", "content": system}, *runtime.context.model_messages(conversation)]
        async with runtime.checkpoints.around(ChangeAuthor.turn(conversation, request.id)) as change:
            ctx.changes = change
            outcome = await run_turn(model, runtime.tools, ctx, messages, limits, persisting, fit=fit)
    except asyncio.CancelledError:
        persisting.close_open_reply()
        persisting.post_notice("The reply was cancelled.")
        await persisting.writes.settle()
        _cancelled(runtime, conversation, ctx)
        raise
    persisting.close_open_reply()
    if not outcome.ok:
        persisting.post_notice(outcome.error or outcome.status)
    await persisting.writes.settle()  # the turn ends once all it said is durable
    return _ended(runtime, conversation, ctx, outcome)


async def _prepare(runtime: "Runtime", conversation: str, prompt: str,
                   ctx: ToolContext) -> tuple[ChatModel, str, SmallModelFit | None] | TurnOutcome:
    """The model, system prompt and small-model fit of the turn, with room made for `prompt`; or why it cannot
    be sent."""
    model_name = await asyncio.to_thread(runtime.conversation_model, conversation, ctx.profile)
    if problem := await asyncio.to_thread(runtime.model_problem, model_name):
        return TurnOutcome("refused", "", error=problem)
    assert model_name is not None
    model = runtime.llm_for(model_name)
    tools = runtime.tools.schemas(ctx) or None
    fit = None
    if model.small:  # run_turn gives a small model this short prompt and file tools: budget those
        fit = await asyncio.to_thread(SmallModelFit, ctx)
        system, tools = fit.system_prompt(), fit.schemas(tools)
    else:
        system = system_prompt(ctx)
        if memories := await runtime.memory.context_for_turn(prompt):
            system = f"{system}\n\n{memories}"
    try:
        await runtime.context.fit(conversation, prompt, system=system, tools=tools, model=model,
                                  model_name=model_name)
    except PromptTooLarge as refusal:
        return TurnOutcome("refused", "", error=str(refusal))
    except CompactionFailed as failure:
        return TurnOutcome("failed", "", error=str(failure))
    return model, system, fit


def _cancelled(runtime: "Runtime", conversation: str, ctx: ToolContext) -> None:
    runtime.bus.publish(TurnFinished(conversation=conversation, task_id=ctx.task_id, status="cancelled",
                                     iterations=0, total_tokens=0))


def _ended(runtime: "Runtime", conversation: str, ctx: ToolContext, outcome: TurnOutcome) -> TurnOutcome:
    runtime.bus.publish(TurnFinished(
        conversation=conversation, task_id=ctx.task_id, status=outcome.status, iterations=outcome.iterations,
        total_tokens=outcome.usage.total_tokens, cost_usd=outcome.usage.cost_usd, error=outcome.error,
    ))
    return outcome


async def compact_conversation(runtime: "Runtime", conversation: str) -> Compaction:
    """Summarise all but the newest exchange of `conversation` for its model (the caller holds its turn lock)."""
    ctx = runtime.tool_context(conversation=conversation, profile=runtime.conversation_profile(conversation))
    model_name = await asyncio.to_thread(runtime.conversation_model, conversation, ctx.profile)
    if problem := await asyncio.to_thread(runtime.model_problem, model_name):
        raise CompactionFailed(f"the conversation could not be compacted: {problem}")
    assert model_name is not None
    return await runtime.context.compact(conversation, system=system_prompt(ctx),
                                         tools=runtime.tools.schemas(ctx) or None,
                                         model=runtime.llm_for(model_name), model_name=model_name)
