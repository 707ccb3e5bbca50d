"""The conversation view: stored messages drawn lazily, the person's own turn drawn live, notices as they land."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textual import on
from textual.containers import VerticalScroll
from textual.widget import AwaitMount, Widget
from textual.worker import Worker, WorkerState

from oboto.core.events import ConversationRenamed, Event, MessageAppended
from oboto.services.conversation_models import Message
from oboto.services.runtime import Runtime
from oboto.tui.live import LiveData
from oboto.tui.widgets.live_turn import LiveReply, LiveTurn, ViewObserver, pump_reply
from oboto.tui.widgets.message_widgets import (
    AssistantMessage,
    EarlierMessages,
    Notice,
    ToolCallBlock,
    UserMessage,
)

BATCH_SIZE = 40
"""Messages mounted when a conversation is shown, and per "load earlier": enough to read, cheap to mount."""

STREAM_GROUP = "reply-stream"


def batch_start(messages: Sequence[Message], end: int) -> int:
    """Where a batch ending at `end` starts: never on a tool result, which belongs with its call before it."""
    start = max(0, end - BATCH_SIZE)
    while start > 0 and messages[start].role == "tool":
        start -= 1
    return start


def tool_result_ok(content: str) -> bool:
    """Stored tool results do not record success; failed tools answer with `Error: …` (ToolResult.error)."""
    return not content.startswith("Error:")


class MessageRenderer:
    """Turns stored messages into widgets, filling each tool call's block with the result that follows it."""

    def __init__(self) -> None:
        self.blocks: dict[str, ToolCallBlock] = {}
        self._waiting: list[ToolCallBlock] = []

    def render(self, message: Message) -> list[Widget]:
        """The widgets for one stored message (none for a tool result that fills its call's block)."""
        if message.role == "tool":
            return self._tool_result(message)
        if message.role == "user" or message.role == "assistant" or message.marker == "turn-stopped":
            self._close_waiting()
        if message.role == "user":
            return [UserMessage(message.content, message_id=message.id)]
        if message.role == "assistant":
            return self.assistant(message)
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
            block.set_result(message.content, tool_result_ok(message.content))
            return []
        # Its call is not on screen (an earlier batch, or lost): show the result on its own.
        orphan = ToolCallBlock(message.tool_call_id, message.name or "tool", "", message_id=message.id)
        orphan.set_result(message.content, tool_result_ok(message.content))
        return [orphan]

    def close_before(self, message: Message) -> None:
        """`message` follows what was rendered: if it ends the turn, calls still without a result never got one."""
        if message.role in ("user", "assistant") or message.marker == "turn-stopped":
            self._close_waiting()

    def _close_waiting(self) -> None:
        for block in self._waiting:
            block.mark_unfinished()
        self._waiting.clear()


class ConversationView(LiveData, VerticalScroll):
    """One conversation: the last messages mounted (older ones on request), the running turn live."""

    def __init__(self, runtime: Runtime, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.runtime = runtime
        self.conversation: str | None = None
        self._first_shown = 0
        """Index of the oldest mounted message; everything before it hides behind the "earlier" row."""
        self._seen = 0
        """How many stored messages are accounted for (mounted, hidden behind the row, or deferred)."""
        self._last_seen_id: str | None = None
        self._earlier: EarlierMessages | None = None
        self._renderer = MessageRenderer()
        self._open_streams: dict[int, AssistantMessage] = {}
        """Replies another writer is still streaming (by index), re-read as their snapshots grow."""
        self._live: LiveTurn | None = None
        self._sync_scheduled = False
        self._following = True
        """Whether the view sticks to the bottom as content grows: true while the person is at the bottom."""

    # ----- showing a conversation --------------------------------------------------------------

    def show(self, name: str) -> None:
        """Draw conversation `name`: only its last batch of messages, however long it is."""
        self._live = None
        self.workers.cancel_group(self, STREAM_GROUP)
        self.conversation = name
        messages = self.runtime.conversations.messages(name)
        start = batch_start(messages, len(messages))
        self._first_shown = start
        self._mark_seen(messages)
        self._renderer = MessageRenderer()
        self._open_streams.clear()
        self._earlier = EarlierMessages(start) if start else None
        widgets: list[Widget] = [self._earlier] if self._earlier else []
        widgets += self._render_range(messages, range(start, len(messages)))
        with self.app.batch_update():
            self.remove_children()
            if widgets:
                self.mount_all(widgets)
        self.follow_bottom()

    @on(EarlierMessages.Selected)
    async def load_earlier(self) -> None:
        """Mount the batch before the oldest shown message, keeping the person's place."""
        self._sync()
        row = self._earlier
        if row is None or self.conversation is None:
            return
        messages = self.runtime.conversations.messages(self.conversation)
        end = self._first_shown
        start = batch_start(messages, end)
        renderer = MessageRenderer()
        widgets = [widget for index in range(start, end) for widget in renderer.render(messages[index])]
        renderer.close_before(messages[end])
        self._first_shown = start
        oldest_shown = self.children[1] if len(self.children) > 1 else None
        self._following = False  # the person is reading at the top: new content must not pull them away
        await self.mount_all(widgets, after=row)
        if start:
            row.set_count(start)
        else:
            self._earlier = None
            self.focus()
            await row.remove()
        if oldest_shown is not None:
            self.call_after_refresh(self._scroll_to_top_of, oldest_shown)

    def _scroll_to_top_of(self, widget: Widget) -> None:
        # An absolute offset, after the layout that gave the new messages their heights: `scroll_to_widget`
        # is relative to the current offset, which a focus scroll may still be animating.
        self.scroll_to(y=widget.virtual_region_with_margin.y, animate=False)

    def _render_range(self, messages: Sequence[Message], indexes: range | list[int]) -> list[Widget]:
        widgets: list[Widget] = []
        for index in indexes:
            message = messages[index]
            rendered = self._renderer.render(message)
            if message.role == "assistant" and message.status == "streaming" and rendered:
                first = rendered[0]
                if isinstance(first, AssistantMessage):
                    self._open_streams[index] = first
            widgets += rendered
        return widgets

    def _mark_seen(self, messages: Sequence[Message]) -> None:
        self._seen = len(messages)
        self._last_seen_id = messages[-1].id if messages else None

    # ----- keeping up with the store -------------------------------------------------------------

    def workspace_event(self, event: Event | None, changed: frozenset[Path]) -> None:
        """New messages for the shown conversation: ours (bus events) or another process's (file changes)."""
        name = self.conversation
        if name is None:
            return
        if isinstance(event, MessageAppended) and event.conversation == name:
            self._schedule_sync()
        elif isinstance(event, ConversationRenamed) and event.old == name:
            self.conversation = event.new
        elif changed and any(_is_conversation_file(path, name) for path in changed):
            self._schedule_sync()

    def _schedule_sync(self) -> None:
        # A burst of events (a batch of task notices) costs one read of the store, not one per event.
        if not self._sync_scheduled:
            self._sync_scheduled = True
            self.call_later(self._sync)

    def _sync(self) -> None:
        """Mount what was appended since the last look; while live, hold back what may be the turn's own."""
        self._sync_scheduled = False
        if self.conversation is None or not self.is_attached:
            return
        messages = self.runtime.conversations.messages(self.conversation)
        if len(messages) < self._seen or (self._seen and messages[self._seen - 1].id != self._last_seen_id):
            self.show(self.conversation)  # the file was rewritten (repaired after damage): draw it afresh
            return
        self._follow_open_streams(messages)
        if len(messages) == self._seen:
            return
        new = range(self._seen, len(messages))
        self._mark_seen(messages)
        if self._live is not None:
            # The turn's user message, replies and tool results are already on screen, drawn live.
            self._live.deferred += [index for index in new if messages[index].role != "system"]
            new = [index for index in new if messages[index].role == "system"]
        widgets = self._render_range(messages, new)
        if widgets:
            self.mount_all(widgets)

    def _follow_open_streams(self, messages: Sequence[Message]) -> None:
        for index, widget in list(self._open_streams.items()):
            message = messages[index]
            if message.content != widget.source:
                widget.update(message.content)
                widget.set_class(not message.content, "-empty")
            if message.status == "streaming":
                continue
            del self._open_streams[index]
            if message.status == "interrupted":
                widget.mark_interrupted()
            blocks = self._renderer.assistant(message, with_text=False)
            if blocks:
                self.mount_all(blocks, after=widget)

    # ----- the person's own turn -----------------------------------------------------------------

    def add_user_message(self, text: str) -> None:
        """Show what the person just sent and start drawing their turn live."""
        self._sync()
        widget = UserMessage(text)
        self._live = LiveTurn(user=widget)
        self.mount(widget)
        # The person just acted: bring their message (and the reply to come) into view.
        self.follow_bottom()

    def reply_observer(self) -> ViewObserver:
        """Callbacks for the agent turn that draw it live in this view."""
        if self._live is None:
            self._sync()
            self._live = LiveTurn()
        return ViewObserver(self, self._live)

    def turn_finished(self) -> None:
        """The turn ended (done, failed or cancelled): match what was drawn live to what was stored."""
        live = self._live
        if live is None:
            return
        self._sync()
        self._live = None
        if self.conversation is None:
            return
        messages = self.runtime.conversations.messages(self.conversation)
        unpaired = list(live.replies)
        leftovers: list[int] = []
        for index in live.deferred:
            message = messages[index]
            if (message.role == "user" and live.user is not None and live.user.message_id is None
                    and message.content == live.user.source):
                live.user.message_id = message.id
            elif message.role == "assistant" and (reply := _take_reply(unpaired, message)) is not None:
                reply.bind(message)
            elif message.role == "tool" and (block := live.blocks.get(message.tool_call_id or "")) is not None:
                block.message_id = message.id
                if block.result is None:
                    block.set_result(message.content, tool_result_ok(message.content))
            else:
                leftovers.append(index)  # written by someone else meanwhile
        for reply in unpaired:
            self._settle_unstored(reply)
        for block in live.blocks.values():
            block.mark_unfinished()
        widgets = self._render_range(messages, leftovers)
        if widgets:
            self.mount_all(widgets)

    def _settle_unstored(self, reply: LiveReply) -> None:
        """A reply with no stored message: cut off before it said anything, or (rarely) stored unlike drawn."""
        reply.finish(reply.text)  # an empty reply stays hidden, as any reply without text
        if reply.text:
            reply.widget.mark_interrupted()

    # ----- following the bottom (STYLE 6) --------------------------------------------------------
    # Not `anchor()`: in Textual 8.2.8 it pushes short content to the bottom of the view (textual#6652)
    # and rarely re-engages when the person scrolls back down while a reply streams (textual#6677).

    def follow_bottom(self) -> None:
        """Go to the bottom and stay there as content grows, until the person scrolls away."""
        self._following = True
        self.scroll_end(animate=False)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._following = new >= self.max_scroll_y - 1

    def watch_virtual_size(self) -> None:
        self._stay_at_bottom()

    def on_resize(self) -> None:
        # Partial layouts report a grown content height with a Resize event rather than the watcher above.
        self._stay_at_bottom()

    def _stay_at_bottom(self) -> None:
        if self._following:
            self.scroll_end(animate=False)

    # ----- ViewHost: what the live observer uses --------------------------------------------------

    def is_live(self, turn: LiveTurn) -> bool:
        """Whether `turn` is still the one being drawn (switching conversation abandons it)."""
        return self._live is turn

    def append_live(self, *widgets: Widget, before: Widget | None = None) -> AwaitMount:
        """Mount widgets of the live turn at the end (or before `before`)."""
        return self.mount_all(widgets, before=before)

    def start_pump(self, reply: LiveReply) -> None:
        """Stream `reply` into its Markdown widget in a worker."""
        self.run_worker(pump_reply(reply), group=STREAM_GROUP, exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == STREAM_GROUP and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.notify(f"The reply could not be drawn ({type(error).__name__}: {error}); it is saved.",
                        severity="error", timeout=10)


def _take_reply(unpaired: list[LiveReply], message: Message) -> LiveReply | None:
    """The live reply that became `message`: the store keeps exactly the streamed text, so the text tells."""
    for position, reply in enumerate(unpaired):
        if message.author is None and reply.text == message.content:
            return unpaired.pop(position)
    return None


def _is_conversation_file(path: Path, name: str) -> bool:
    # Watchers report resolved paths; compare by name so symlinked workspace roots still match.
    return path.name == f"{name}.jsonl" and path.parent.name == "conversations"
