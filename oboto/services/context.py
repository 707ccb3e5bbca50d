"""What of a conversation the model is given, and compaction when it no longer fits the model's context window.

The model gets the messages since the last `context-cleared` marker (`/clear`), with the newest `compaction`
summary standing in for every message it covers (those stay in the file). Notices that arrived while a reply
was being written are given after that reply; those that arrived as the person's prompt was stored, before it.
When the history and the new prompt do not fit the budget (`llm.context`), the older exchanges are summarised
by the model into a marked message; a prompt that alone is over the budget is refused before anything is sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from oboto.agent.turn import ChatModel
from oboto.core.bus import EventBus
from oboto.core.config import LLMSettings
from oboto.core.errors import RequestRefused
from oboto.core.events import ContextCleared, ContextCompacted, ContextCompacting
from oboto.core.text import cut_middle
from oboto.llm.context import ContextBudget, context_budget, count_message_tokens, count_tool_tokens
from oboto.llm.types import LLMError, Usage
from oboto.services.conversation_models import CLEARED_MARKER, COMPACTION_MARKER, Message, TokenUsage
from oboto.services.conversations import ConversationManager

INTERRUPTED_NOTE = "\n\n[this reply was interrupted before it finished]"
SUMMARY_HEADING = "[oboto: a summary of the earlier conversation, which no longer fits the model's context]"
CLEARED_TEXT = "Context cleared: the messages above stay here, but the agent no longer sees them."
SUMMARY_INSTRUCTIONS = (
    "You summarise a conversation between a person and a software agent so that the agent can go on without "
    "the original messages. Keep every decision, requirement, fact learned, file path, command, open question "
    "and unfinished step; leave out greetings and repetition. Write plain Markdown, at most {words} words. "
    "Answer with the summary only."
)
KEPT_SHARE = 0.5
"""Automatic compaction keeps the newest exchanges that fit in this share of the room the history has."""
SUMMARY_SHARE = 0.25
"""A summary may take at most this share of that room."""
SUMMARY_REQUEST_OVERHEAD_TOKENS = 600
"""The instructions and framing of one summarising request."""
MAX_SUMMARY_WORDS = 800
TOKENS_PER_WORD = 1.4


class PromptTooLarge(RequestRefused):
    """A prompt that alone does not fit the model's context window; nothing was stored or sent."""


class CompactionFailed(RequestRefused):
    """The model could not write the summary; the conversation is unchanged."""


@dataclass(frozen=True)
class Compaction:
    """What one compaction did (`summary` None: there was nothing older than the newest exchange to compact)."""

    conversation: str
    summary: Message | None
    messages: int
    tokens_before: int
    tokens_after: int

    def describe(self) -> str:
        if self.summary is None:
            return f"Nothing to compact in {self.conversation}: it has no exchange older than the newest one."
        return (f"Compacted {self.conversation}: {self.messages} earlier message(s) are summarised for the agent "
                f"(about {self.tokens_before:,} → {self.tokens_after:,} tokens); they stay in the conversation.")


@dataclass(frozen=True)
class ConversationUsage:
    """Tokens and cost of a conversation's model calls, in all and in its latest turn."""

    total: Usage
    last_turn: Usage
    turns: int


@dataclass
class _Exchange:
    """A person's message and everything after it up to the next one (the first may have no person's message)."""

    messages: list[Message] = field(default_factory=list)
    tokens: int = 0


@dataclass
class _Measure:
    budget: ContextBudget
    fixed: int
    """The system prompt and the tool schemas."""
    prompt: int
    exchanges: list[_Exchange]

    @property
    def room(self) -> int:
        """Tokens left for the history and the prompt."""
        return self.budget.request_tokens - self.fixed

    @property
    def history(self) -> int:
        return sum(exchange.tokens for exchange in self.exchanges)


class ConversationContext:
    """Builds each turn's history for the model, and compacts or clears it; reads and posts through the
    ConversationManager (the only writer of the conversation files)."""

    def __init__(self, conversations: ConversationManager, options: LLMSettings, bus: EventBus) -> None:
        self.conversations = conversations
        self.options = options
        self.bus = bus
        self._counts: dict[tuple[str, str, int, int, int], int] = {}

    # ----- what the model is given ---------------------------------------------------------------

    def active_messages(self, name: str) -> list[Message]:
        """The stored messages the model is given, in order: after the last clear, a summary for what it covers."""
        messages = self.conversations.turn_messages(name)
        start = max((i + 1 for i, m in enumerate(messages) if _is(m, CLEARED_MARKER)), default=0)
        region = messages[start:]
        summaries = [m for m in region if _is(m, COMPACTION_MARKER)]
        ids = [m.id for m in region]
        summary = summaries[-1] if summaries else None
        rest = [m for m in region if not _is(m, COMPACTION_MARKER)]
        if summary is None or summary.compacted_through not in ids:
            return rest
        through = ids.index(summary.compacted_through)
        return [summary, *(m for m in region[through + 1:] if not _is(m, COMPACTION_MARKER))]

    def model_messages(self, name: str) -> list[dict[str, Any]]:
        """The conversation as chat-completion messages (after the system prompt), the newest prompt last."""
        exchanges = _exchanges(self.active_messages(name))
        result: list[dict[str, Any]] = []
        for position, exchange in enumerate(exchanges):
            result += _to_model(exchange.messages, answering=position == len(exchanges) - 1)
        return result

    # ----- fitting a turn into the budget ----------------------------------------------------------

    def budget(self, model_name: str) -> ContextBudget:
        """The budget of `model_name` (imports litellm: call off the event loop)."""
        return context_budget(model_name, self.options)

    async def fit(self, name: str, prompt: str, *, system: str, tools: list[dict[str, Any]] | None,
                  model: ChatModel, model_name: str) -> Compaction | None:
        """Make room for `prompt`: compact older exchanges when history and prompt are over the budget.

        Raises PromptTooLarge (nothing stored) when the prompt alone does not fit, CompactionFailed when the
        summary could not be written. Returns the compaction made, if one was needed.
        """
        measure = await asyncio.to_thread(self._measure, name, model_name, system, tools, prompt)
        if measure.prompt > measure.room:
            raise PromptTooLarge(_too_large(measure, model_name))
        if measure.history + measure.prompt <= measure.room:
            return None
        keep_room = int((measure.room - measure.prompt) * KEPT_SHARE)
        return await self._compact(name, measure, model, model_name, keep_room=keep_room, keep_at_least=0)

    async def compact(self, name: str, *, system: str, tools: list[dict[str, Any]] | None, model: ChatModel,
                      model_name: str) -> Compaction:
        """Summarise everything but the newest exchange (`/compact`, `oboto conversations compact`)."""
        measure = await asyncio.to_thread(self._measure, name, model_name, system, tools, "")
        return await self._compact(name, measure, model, model_name, keep_room=0, keep_at_least=1)

    def _measure(self, name: str, model_name: str, system: str, tools: list[dict[str, Any]] | None,
                 prompt: str) -> _Measure:
        budget = self.budget(model_name)
        fixed = self._count(model_name, {"role": "system", "content": system}) + count_tool_tokens(model_name, tools)
        exchanges = _exchanges(self.active_messages(name))
        for exchange in exchanges:
            exchange.tokens = sum(self._count(model_name, message)
                                  for message in _to_model(exchange.messages, answering=False))
        prompt_tokens = self._count(model_name, {"role": "user", "content": prompt}) if prompt else 0
        return _Measure(budget, fixed, prompt_tokens, exchanges)

    def _count(self, model_name: str, message: dict[str, Any]) -> int:
        """Tokens of one message, remembered by content (a long history is counted once per process)."""
        content = str(message.get("content") or "")
        calls = str(message.get("tool_calls") or "")
        key = (model_name, message["role"], hash(content), len(content), hash(calls))
        if key not in self._counts:
            if len(self._counts) > 20_000:
                self._counts.clear()
            self._counts[key] = count_message_tokens(model_name, message)
        return self._counts[key]

    async def _compact(self, name: str, measure: _Measure, model: ChatModel, model_name: str, *, keep_room: int,
                       keep_at_least: int) -> Compaction:
        """Summarise all but the newest exchanges (as many as `keep_room` holds, at least `keep_at_least`)."""
        exchanges = measure.exchanges
        split = len(exchanges)
        kept_tokens = 0
        while split > 0:
            newest_left = exchanges[split - 1]
            wanted = len(exchanges) - split < keep_at_least or kept_tokens + newest_left.tokens <= keep_room
            if not wanted or newest_left.tokens > measure.room // 2:
                break  # an exchange that alone takes half the room is summarised, even the newest
            split -= 1
            kept_tokens += newest_left.tokens
        older = [message for exchange in exchanges[:split] for message in exchange.messages]
        before = measure.fixed + measure.history + measure.prompt
        if all(_is(message, COMPACTION_MARKER) for message in older):
            return Compaction(name, None, 0, before, before)
        summary_room = max(200, int((measure.room - measure.prompt) * SUMMARY_SHARE))
        self.bus.publish(ContextCompacting(conversation=name, messages=len(older)))
        text, usage = await self._summarise(older, model, model_name, measure.budget, summary_room)
        summary = await self.conversations.append_async(name, Message(
            role="system", marker=COMPACTION_MARKER, author="oboto", content=text, compacted_through=older[-1].id,
            model=model_name, usage=TokenUsage(prompt_tokens=usage.prompt_tokens,
                                               completion_tokens=usage.completion_tokens, cost_usd=usage.cost_usd),
        ))
        after = measure.fixed + self._count(model_name, _summary_for_model(summary)) + kept_tokens + measure.prompt
        self.bus.publish(ContextCompacted(conversation=name, message_id=summary.id, messages=len(older),
                                          tokens_before=before, tokens_after=after))
        return Compaction(name, summary, len(older), before, after)

    async def _summarise(self, older: list[Message], model: ChatModel, model_name: str, budget: ContextBudget,
                         summary_room: int) -> tuple[str, Usage]:
        """One summary of `older`, written in as many requests as the budget needs, each building on the last."""
        words = max(50, min(MAX_SUMMARY_WORDS, int(summary_room / TOKENS_PER_WORD)))
        instructions = {"role": "system", "content": SUMMARY_INSTRUCTIONS.format(words=words)}
        chunk_room = max(500, budget.request_tokens - SUMMARY_REQUEST_OVERHEAD_TOKENS - summary_room)
        entries = await asyncio.to_thread(self._transcript, older, model_name, chunk_room)
        usage = Usage()
        summary = ""
        for chunk in _chunks(entries, chunk_room):
            so_far = f"The summary so far:\n{summary}\n\n" if summary else ""
            request = [instructions, {"role": "user", "content": f"{so_far}The conversation:\n\n{chunk}"}]
            try:
                response = await model.complete(request, None, stream=False)
            except LLMError as error:
                raise CompactionFailed(f"the conversation could not be compacted: {error.message}") from None
            usage.add(response.usage)
            summary = response.text.strip() or summary
        if not summary:
            raise CompactionFailed("the conversation could not be compacted: the model wrote an empty summary")
        limit_chars = int(summary_room * 3)
        return cut_middle(summary, limit_chars, "the summary was longer than the room it has"), usage

    def _transcript(self, older: list[Message], model_name: str, chunk_room: int) -> list[tuple[str, int]]:
        """Each older message as a transcript entry with its token count; one too long for a request is cut."""
        entries = []
        for message in older:
            text = _transcript_entry(message)
            tokens = self._count(model_name, {"role": "user", "content": text})
            if tokens > chunk_room:
                text = cut_middle(text, int(len(text) * chunk_room / tokens * 0.9), "too long to summarise whole")
                tokens = chunk_room
            entries.append((text, tokens))
        return entries

    # ----- clearing and usage ----------------------------------------------------------------------

    def clear(self, name: str) -> Message:
        """Start a fresh context (`/clear`): a marker after which the model is given nothing from before."""
        marker = self.conversations.post_notice(name, CLEARED_TEXT, marker=CLEARED_MARKER, author="oboto")
        self.bus.publish(ContextCleared(conversation=name, message_id=marker.id))
        return marker

    def usage(self, name: str) -> ConversationUsage:
        """Tokens and cost of every model call recorded in the conversation, and of its latest turn."""
        messages = self.conversations.messages(name)
        users = [i for i, message in enumerate(messages) if message.role == "user"]
        start = users[-1] if users else len(messages)
        while start > 0 and _is(messages[start - 1], COMPACTION_MARKER):
            start -= 1  # a compaction made for the latest prompt belongs to its turn
        total, last = Usage(), Usage()
        for position, message in enumerate(messages):
            if message.usage is None:
                continue
            used = Usage(message.usage.prompt_tokens, message.usage.completion_tokens, message.usage.cost_usd)
            total.add(used)
            if position >= start:
                last.add(used)
        return ConversationUsage(total=total, last_turn=last, turns=len(users))


# ----- conversion ------------------------------------------------------------------------------------


def _is(message: Message, marker: str) -> bool:
    return message.role == "system" and message.marker == marker


def _exchanges(messages: list[Message]) -> list[_Exchange]:
    exchanges: list[_Exchange] = []
    for message in messages:
        if message.role == "user" or not exchanges:
            exchanges.append(_Exchange())
        exchanges[-1].messages.append(message)
    return exchanges


def _to_model(messages: list[Message], *, answering: bool) -> list[dict[str, Any]]:
    """One exchange as chat-completion messages, always a valid sequence for a provider.

    Notices go after the exchange's replies (the model saw none of them while replying), or, in the exchange
    being answered now, before the person's prompt, so the prompt is what the model answers.
    """
    notices = [_notice_for_model(m) for m in messages if m.role == "system"]
    person = [m for m in messages[:1] if m.role == "user"]
    replies = [m for m in messages[len(person):] if m.role != "system"]
    spoken = [{"role": "user", "content": m.content} for m in person] + _replies_for_model(replies)
    if answering and person:
        return notices + spoken
    return spoken + notices


def _replies_for_model(replies: list[Message]) -> list[dict[str, Any]]:
    """Assistant messages and tool results; a call without its result gets one, a result without its call goes."""
    result: list[dict[str, Any]] = []
    pending: dict[str, str] = {}

    def settle_pending() -> None:
        for call_id, name in pending.items():
            result.append({"role": "tool", "tool_call_id": call_id, "name": name,
                           "content": "Error: interrupted before this tool finished."})
        pending.clear()

    for message in replies:
        if message.role == "tool":
            if message.tool_call_id not in pending:
                continue  # a result whose call was lost would be rejected by the provider
            pending.pop(message.tool_call_id)
            result.append({"role": "tool", "tool_call_id": message.tool_call_id, "name": message.name,
                           "content": message.content})
            continue
        settle_pending()
        content = message.content + (INTERRUPTED_NOTE if message.status != "complete" else "")
        entry: dict[str, Any] = {"role": "assistant", "content": content}
        if message.tool_calls and message.status == "complete":
            entry["tool_calls"] = message.tool_calls
            pending = {call["id"]: call["function"]["name"] for call in message.tool_calls}
        result.append(entry)
    settle_pending()
    return result


def _notice_for_model(message: Message) -> dict[str, Any]:
    if message.marker == COMPACTION_MARKER:
        return _summary_for_model(message)
    source = f" from {message.author}" if message.author else ""
    return {"role": "user", "content": f"[oboto {message.marker or 'notice'}{source}]\n{message.content}"}


def _summary_for_model(message: Message) -> dict[str, Any]:
    return {"role": "user", "content": f"{SUMMARY_HEADING}\n{message.content}"}


def _transcript_entry(message: Message) -> str:
    if message.role == "user":
        return f"The person: {message.content}"
    if message.role == "assistant":
        calls = ", ".join(call["function"]["name"] for call in message.tool_calls or [])
        return f"The agent: {message.content}" + (f" (calls {calls})" if calls else "")
    if message.role == "tool":
        return f"Result of {message.name}: {message.content}"
    if message.marker == COMPACTION_MARKER:
        return f"Summary of what came before:\n{message.content}"
    return f"Notice ({message.marker or 'notice'}): {message.content}"


def _chunks(entries: list[tuple[str, int]], room: int) -> list[str]:
    """The transcript in pieces of at most `room` tokens, never splitting an entry."""
    chunks: list[list[str]] = [[]]
    used = 0
    for text, tokens in entries:
        if chunks[-1] and used + tokens > room:
            chunks.append([])
            used = 0
        chunks[-1].append(text)
        used += tokens
    return ["\n\n".join(chunk) for chunk in chunks if chunk]


def _too_large(measure: _Measure, model_name: str) -> str:
    return (f"This message is too long for {model_name}: it takes about {measure.prompt:,} tokens and "
            f"{max(0, measure.room):,} fit. The model has {measure.budget.describe()}; {measure.fixed:,} go to the "
            "agent's instructions and tools. Nothing was sent or stored. Send a shorter message, or save the text "
            "to a file and ask the agent to read it in parts.")
