"""The person's running turn, drawn live from the agent's observer callbacks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from textual.widget import AwaitMount, Widget
from textual.widgets import Markdown

from oboto.agent.tools.base import ToolResult
from oboto.agent.turn import TurnObserver
from oboto.llm.types import LLMError, LLMResponse, ToolCallRequest
from oboto.tui.widgets.message_widgets import AssistantMessage, RetryLine, ToolCallBlock, UserMessage

if TYPE_CHECKING:
    from oboto.services.conversation_models import Message


class _Restart:
    """Queue item: the model call is being retried, so what was streamed so far goes."""


@dataclass
class _Finish:
    """Queue item: the reply is complete; render `text` in full once."""

    text: str


@dataclass
class LiveReply:
    """One streamed assistant reply: its widget, the text so far and the queue its pump drains."""

    widget: AssistantMessage
    mounted: AwaitMount
    parts: list[str] = field(default_factory=list)
    queue: asyncio.Queue[str | _Restart | _Finish] = field(default_factory=asyncio.Queue)
    finished: bool = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def write(self, delta: str) -> None:
        self.parts.append(delta)
        self.widget.remove_class("-empty")
        self.queue.put_nowait(delta)

    def restart(self) -> None:
        self.parts.clear()
        self.widget.add_class("-empty")
        self.queue.put_nowait(_Restart())

    def finish(self, text: str) -> None:
        """End the stream with one full render of `text`; later calls change nothing."""
        if self.finished:
            return
        self.finished = True
        self.queue.put_nowait(_Finish(text))

    def bind(self, message: Message) -> None:
        """The stored message this reply became: finish with its text, show it was cut short if it was."""
        self.widget.message_id = message.id
        self.finish(message.content)
        if message.status == "interrupted":
            self.widget.mark_interrupted()


async def pump_reply(reply: LiveReply) -> None:
    """Feed a reply's deltas to `Markdown.get_stream()` (the observer callbacks are sync; this is not)."""
    await reply.mounted
    markdown = reply.widget
    stream = Markdown.get_stream(markdown)
    final = ""
    try:
        while True:
            item = await reply.queue.get()
            if isinstance(item, _Finish):
                final = item.text
                break
            if isinstance(item, _Restart):
                await stream.stop()
                await markdown.update("")
                stream = Markdown.get_stream(markdown)
            else:
                await stream.write(item)
    finally:
        await stream.stop()
    # One full render at the end: the stream appended blocks piecemeal, this settles the final layout.
    await markdown.update(final)
    markdown.set_class(not final, "-empty")


class ViewHost(Protocol):
    """What the observer needs from the conversation view."""

    def append_live(self, *widgets: Widget, before: Widget | None = None) -> AwaitMount: ...
    def start_pump(self, reply: LiveReply) -> None: ...
    def is_live(self, turn: LiveTurn) -> bool: ...


@dataclass
class LiveTurn:
    """What the running turn has put on screen, so it can be matched to the stored messages at its end."""

    user: UserMessage | None = None
    replies: list[LiveReply] = field(default_factory=list)
    blocks: dict[str, ToolCallBlock] = field(default_factory=dict)
    deferred: list[int] = field(default_factory=list)
    """Indexes of stored messages that arrived while live and may be this turn's own."""


class ViewObserver(TurnObserver):
    """Draws the person's own turn as it happens; does nothing once the view has moved on from the turn."""

    def __init__(self, host: ViewHost, turn: LiveTurn) -> None:
        self.host = host
        self.turn = turn

    @property
    def _reply(self) -> LiveReply | None:
        replies = self.turn.replies
        return replies[-1] if replies and not replies[-1].finished else None

    def reply_started(self) -> None:
        if not self.host.is_live(self.turn):
            return
        widget = AssistantMessage()
        reply = LiveReply(widget, self.host.append_live(widget))
        self.turn.replies.append(reply)
        self.host.start_pump(reply)

    def text_delta(self, delta: str) -> None:
        if self.host.is_live(self.turn) and (reply := self._reply) is not None:
            reply.write(delta)

    def reply_restarted(self) -> None:
        if self.host.is_live(self.turn) and (reply := self._reply) is not None:
            reply.restart()

    def reply_finished(self, response: LLMResponse) -> None:
        if self.host.is_live(self.turn) and (reply := self._reply) is not None:
            reply.finish(response.text)

    def retrying(self, attempt: int, delay: float, error: LLMError) -> None:
        if self.host.is_live(self.turn):
            # Above the reply being retried, whose text will come after the note.
            reply = self._reply
            self.host.append_live(RetryLine(attempt, delay, error.message), before=reply.widget if reply else None)

    def tool_started(self, call: ToolCallRequest) -> None:
        if not self.host.is_live(self.turn):
            return
        block = ToolCallBlock(call.id, call.name, call.arguments)
        self.turn.blocks[call.id] = block
        self.host.append_live(block)

    def tool_finished(self, call: ToolCallRequest, result: ToolResult, duration_ms: float) -> None:
        if self.host.is_live(self.turn) and (block := self.turn.blocks.get(call.id)) is not None:
            block.set_result(result.content, result.ok)
