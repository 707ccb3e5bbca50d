"""Stored messages into widgets: one renderer for live messages and reloads alike, and how batches are cut."""

from __future__ import annotations

from collections.abc import Sequence

from textual.widget import Widget

from oboto.services.conversation_models import Message
from oboto.tui.widgets.message_widgets import AssistantMessage, Notice, ToolCallBlock, UserMessage

BATCH_SIZE = 40
"""Messages mounted when a conversation is shown, and per "load earlier": enough to read, cheap to mount."""


def batch_start(messages: Sequence[Message], end: int) -> int:
    """Where a batch ending at `end` starts: never on a tool result, which belongs with its call before it."""
    start = max(0, end - BATCH_SIZE)
    while start > 0 and messages[start].role == "tool":
        start -= 1
    return start


class MessageRenderer:
    """Turns stored messages into widgets, filling each tool call's block with the result that follows it."""

    def __init__(self) -> None:
        self.blocks: dict[str, ToolCallBlock] = {}
        self._waiting: list[ToolCallBlock] = []

    def render(self, message: Message, *, with_text: bool = True) -> list[Widget]:
        """The widgets for one stored message (none for a tool result that fills its call's block).

        `with_text=False`: the reply's text is already on screen (it was streamed); only its tool blocks.
        """
        if message.role == "tool":
            return self._tool_result(message)
        self.close_before(message)
        if message.role == "user":
            return [UserMessage(message.content, message_id=message.id)]
        if message.role == "assistant":
            return self.assistant(message, with_text=with_text)
        return [Notice(message.content, message.marker, message.author, message_id=message.id)]

    def assistant(self, message: Message, *, with_text: bool = True) -> list[Widget]:
        """A reply's text (unless it only called tools) and a block for each tool call it made."""
        widgets: list[Widget] = []
        if with_text and (message.content or not message.tool_calls or message.status == "streaming"):
            widgets.append(AssistantMessage(message.content, message_id=message.id,
                                            interrupted=message.status == "interrupted"))
        for call in message.tool_calls or ():
            function = call.get("function") or {}
            block = ToolCallBlock(call.get("id"), function.get("name") or "tool", function.get("arguments") or "")
            if block.call_id:
                self.blocks[block.call_id] = block
            self._waiting.append(block)
            widgets.append(block)
        return widgets

    def _tool_result(self, message: Message) -> list[Widget]:
        block = self.blocks.get(message.tool_call_id or "")
        if block is not None and block.result is None:
            block.message_id = message.id
            block.set_result(message.content, bool(message.ok))
            return []
        # Its call is not on screen (an earlier batch, or lost): show the result on its own.
        orphan = ToolCallBlock(message.tool_call_id, message.name or "tool", "", message_id=message.id)
        orphan.set_result(message.content, bool(message.ok))
        return [orphan]

    def close_before(self, message: Message) -> None:
        """`message` follows what was rendered: if it ends the turn, calls still without a result never got one."""
        if message.role in ("user", "assistant") or message.marker == "turn-stopped":
            self._close_waiting()

    def _close_waiting(self) -> None:
        for block in self._waiting:
            block.mark_unfinished()
        self._waiting.clear()
