"""The conversation view: stored messages drawn by id from one stream of conversation events.

Every message is drawn from its stored record by the one `MessageRenderer`, whether it arrives live or is
read when the conversation is shown again, so a reload shows exactly what was shown live. The only thing
drawn from event data is a reply's text while it streams (ReplyTextAppended), and when the reply ends its
widget is settled with the stored text. Events of this process come from the bus; other processes' writes
come from the file watcher, and then the view reads the store and draws by id in the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

from textual import on
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from oboto.core.events import (
    ChangeRecorded,
    ConversationRenamed,
    Event,
    MessageAppended,
    PromptSubmitted,
    ReplyFinished,
    ReplyRestarted,
    ReplyRetryScheduled,
    ReplyStarted,
    ReplyTextAppended,
)
from oboto.services.conversation_models import Message
from oboto.services.runtime import Runtime
from oboto.tui.changes import ConversationChanges, read_conversation_changes
from oboto.tui.live import follow
from oboto.tui.widgets.change_views import TurnChanges
from oboto.tui.widgets.conversation_search import KeyboardConversation
from oboto.tui.widgets.message_renderer import MessageRenderer, batch_start
from oboto.tui.widgets.message_widgets import (
    AssistantMessage,
    CommandOutput,
    EarlierMessages,
    RetryLine,
    ToolCallBlock,
    UserMessage,
)
from oboto.tui.widgets.reply_stream import LiveReply, pump_reply
from oboto.tui.workers import run_blocking

STREAM_GROUP = "reply-stream"
LOAD_GROUP = "conversation-load"
EARLIER_GROUP = "conversation-earlier"
CHANGES_GROUP = "conversation-changes"
TURN_CHANGE_KINDS = frozenset({"turn", "undo", "redo"})
ReplyEvent = ReplyStarted | ReplyTextAppended | ReplyRestarted | ReplyRetryScheduled | ReplyFinished


class ConversationView(KeyboardConversation):
    """One conversation: the last messages mounted (older ones on request), kept current by conversation events."""

    def __init__(self, runtime: Runtime, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.runtime = runtime
        self.conversation: str | None = None
        """The conversation shown, or being read to be shown."""
        self._drawn = False
        """Whether `conversation` is on screen yet; its events that come while it is being read wait in `_held`."""
        self._held: list[Event] = []
        self._first_shown = 0
        """Index of the oldest mounted message; everything before it hides behind the "earlier" row."""
        self._seen = 0
        """How many stored messages are accounted for (mounted, or hidden behind the row)."""
        self._last_seen_id: str | None = None
        self._seen_ids: set[str] = set()
        """Ids of the stored messages accounted for: an event about one of them is late (the store is ahead)."""
        self._earlier: EarlierMessages | None = None
        self._renderer = MessageRenderer()
        self._streams: dict[str, LiveReply] = {}
        """Replies streaming in this process, by message id, drawn from their events until they are stored."""
        self._snapshots: dict[str, AssistantMessage] = {}
        """Replies another process is streaming, by message id, redrawn as their stored snapshots grow."""
        self._sync_scheduled = False
        self._following = True
        """Whether the view sticks to the bottom as content grows: true while the person is at the bottom."""
        self._pending: list[UserMessage] = []
        """The person's messages drawn on Enter and not stored yet, oldest first; new content goes above them."""
        self._claimed: dict[str, UserMessage] = {}
        """Pending messages whose stored id is known (this process stored them), until they are drawn by it."""

    def on_mount(self) -> None:
        follow(self, events=self._conversation_event, files=self._files_changed)

    @property
    def shown(self) -> str | None:
        """The conversation on screen (None while it is being read)."""
        return self.conversation if self._drawn else None

    # ----- showing a conversation --------------------------------------------------------------

    def show(self, name: str) -> None:
        """Show conversation `name`: its last batch of messages, read in a thread (it may be long)."""
        self.conversation = name
        self._drawn = False
        self._held.clear()
        run_blocking(self, partial(self.runtime.conversations.messages, name), partial(self._draw, name),
                     what="Showing the conversation", group=LOAD_GROUP, exclusive=True)

    def _draw(self, name: str, messages: list[Message]) -> None:
        if name != self.conversation:
            return
        self.workers.cancel_group(self, STREAM_GROUP)
        self._streams.clear()
        self._snapshots.clear()
        self._pending.clear()  # drawn afresh from the store: a pending message comes back once it is stored
        self._claimed.clear()
        self.end_search()
        start = batch_start(messages, len(messages))
        self._first_shown = start
        self._mark_seen(messages)
        self._seen_ids = {message.id for message in messages}
        self._renderer = MessageRenderer()
        self._earlier = EarlierMessages(start) if start else None
        widgets: list[Widget] = [self._earlier] if self._earlier else []
        widgets += self._render_messages(messages[start:])
        with self.app.batch_update():
            self.remove_children()
            if widgets:
                self.mount_all(widgets)
        self._drawn = True
        self.follow_bottom()
        self._load_changes()
        held, self._held = self._held, []
        for event in held:
            self._conversation_event(event)
        self._schedule_sync()  # anything stored while the file was being read

    @on(EarlierMessages.Selected)
    def load_earlier(self) -> None:
        """Read the conversation again (in a thread) to mount the batch before the oldest shown message."""
        if self._earlier is not None and self.conversation is not None:
            name = self.conversation
            run_blocking(self, partial(self.runtime.conversations.messages, name),
                         partial(self._mount_earlier, name), what="Loading earlier messages", group=EARLIER_GROUP,
                         exclusive=True)

    async def _mount_earlier(self, name: str, messages: list[Message]) -> None:
        """Mount the batch before the oldest shown message, keeping the person's place."""
        row = self._earlier
        if row is None or name != self.conversation or not self._drawn or len(messages) < self._seen:
            return
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
        self._load_changes()

    async def mount_earlier_batch(self, messages: list[Message]) -> bool:
        """For the search: mount the batch before the oldest shown message; False when nothing more came."""
        oldest = self._first_shown
        if self._earlier is None or self.conversation is None:
            return False
        await self._mount_earlier(self.conversation, messages)
        return self._first_shown != oldest

    def _scroll_to_top_of(self, widget: Widget) -> None:
        # An absolute offset, after the layout that gave the new messages their heights: `scroll_to_widget`
        # is relative to the current offset, which a focus scroll may still be animating.
        self.scroll_to(y=widget.virtual_region_with_margin.y, animate=False)

    def _render_messages(self, messages: Iterable[Message]) -> list[Widget]:
        widgets: list[Widget] = []
        for message in messages:
            rendered = self._renderer.render(message)
            if message.role == "assistant" and message.status == "streaming" and rendered:
                first = rendered[0]
                if isinstance(first, AssistantMessage):
                    self._snapshots[message.id] = first
            widgets += rendered
        return widgets

    def _mark_seen(self, messages: Sequence[Message]) -> None:
        self._seen = len(messages)
        self._last_seen_id = messages[-1].id if messages else None

    # ----- the conversation's events -------------------------------------------------------------

    def _conversation_event(self, event: Event) -> None:
        """Messages stored (drawn from the store by id) and replies streaming (drawn from their events)."""
        if isinstance(event, ConversationRenamed):
            if event.old == self.conversation:
                self.conversation = event.new
            return
        if isinstance(event, ChangeRecorded):
            if event.conversation == self.conversation and event.change_kind in TURN_CHANGE_KINDS and self._drawn:
                self._load_changes()
            return
        if isinstance(event, PromptSubmitted):
            if event.conversation == self.conversation and self._pending and event.message_id not in self._seen_ids:
                # Only this process's turns publish on this bus, in the order they were sent: the oldest pending.
                self._claimed[event.message_id] = self._pending.pop(0)
            return
        if not isinstance(event, MessageAppended | ReplyEvent) or event.conversation != self.conversation:
            return
        if not self._drawn:
            self._held.append(event)
        elif isinstance(event, MessageAppended):
            self._schedule_sync()
        else:
            if self._sync_scheduled:
                self._sync()  # what was stored before this reply event goes above it
            self._reply_event(event)

    def _reply_event(self, event: ReplyEvent) -> None:
        if isinstance(event, ReplyStarted):
            self._start_reply(event.message_id)
            return
        reply = self._streams.get(event.message_id)
        if isinstance(event, ReplyTextAppended) and reply is not None:
            reply.write(event.delta)
        elif isinstance(event, ReplyRestarted) and reply is not None:
            reply.restart()
        elif isinstance(event, ReplyRetryScheduled):
            # Above the reply being retried, whose text will come after the note.
            above = reply.widget if reply is not None else self._snapshots.get(event.message_id)
            if above is not None or event.message_id not in self._seen_ids:
                self.mount(RetryLine(event.attempt, event.delay_seconds, event.reason),
                           before=above or self._first_pending())
        elif isinstance(event, ReplyFinished) and reply is not None and event.status == "discarded":
            del self._streams[event.message_id]
            reply.discard()
        elif isinstance(event, ReplyFinished):
            self._sync()  # the stored reply settles its widget

    def _start_reply(self, message_id: str) -> None:
        if message_id in self._streams or message_id in self._seen_ids:
            return  # already drawn from the store, which was read after the reply began (events come later)
        widget = AssistantMessage(message_id=message_id)
        reply = LiveReply(widget, self.mount(widget, before=self._first_pending()))
        self._streams[message_id] = reply
        self.run_worker(pump_reply(reply), group=STREAM_GROUP, exit_on_error=False)

    def _files_changed(self, changed: frozenset[Path]) -> None:
        name = self.conversation
        if name is not None and self._drawn and any(_is_conversation_file(path, name) for path in changed):
            self._schedule_sync()

    def _schedule_sync(self) -> None:
        # A burst of events (a batch of task notices) costs one read of the store, not one per event.
        if not self._sync_scheduled:
            self._sync_scheduled = True
            self.call_later(self._sync)

    def _sync(self) -> None:
        """Draw what was stored since the last look, in stored order, and settle replies that ended."""
        self._sync_scheduled = False
        if self.conversation is None or not self._drawn or not self.is_attached:
            return
        messages = self.runtime.conversations.messages(self.conversation)
        if len(messages) < self._seen or (self._seen and messages[self._seen - 1].id != self._last_seen_id):
            self.show(self.conversation)  # the file was rewritten (repaired after damage): draw it afresh
            return
        fresh = messages[self._seen:]
        self._settle_earlier(messages[:self._seen])
        self._mark_seen(messages)
        self._seen_ids.update(message.id for message in fresh)
        widgets: list[Widget] = []
        for message in fresh:
            if message.id in self._streams:
                self._settle(message)
            elif (pending := self._pending_for(message)) is not None:
                if widgets:
                    self.mount_all(widgets, before=pending)  # stored before the person's message: above it
                    widgets = []
                pending.adopt(message)
            else:
                widgets += self._render_messages([message])
        if widgets:
            self.mount_all(widgets, before=self._first_pending())

    # ----- the person's message, shown on Enter ----------------------------------------------------

    def show_pending(self, text: str) -> UserMessage:
        """Draw the person's message the moment they send it, before anything is stored; it takes its stored
        id (and text) once the turn stores it, so it is never drawn twice."""
        widget = UserMessage(text)
        self._pending.append(widget)
        self.mount(widget)
        self.follow_bottom()
        return widget

    def show_command_output(self, command: str, text: str) -> None:
        """A slash command's answer, below the conversation (it is not part of it: a redraw leaves it out)."""
        self.mount(CommandOutput(command, text), before=self._first_pending())
        self.follow_bottom()

    def settle_pending(self, widget: UserMessage) -> bool:
        """The turn that sent `widget` is over: True when its message was stored (the widget shows it by its id,
        or a redraw showed the store); False when it never was (refused, or cancelled before it went out), and
        then the widget leaves the view."""
        if widget.message_id is None and widget.is_attached and self._drawn:
            self._sync()  # the store may be ahead of its events
        if widget.message_id is not None or not widget.is_attached:
            return True
        self._drop_pending(widget)
        return False

    def _drop_pending(self, widget: UserMessage) -> None:
        if widget in self._pending:
            self._pending.remove(widget)
        for message_id, claimed in list(self._claimed.items()):
            if claimed is widget:
                del self._claimed[message_id]
        if widget.is_attached:
            widget.remove()

    def _pending_for(self, message: Message) -> UserMessage | None:
        """The pending widget a newly stored message is: the one its event claimed, or, when the store was read
        before that event arrived, the oldest pending one with the same text."""
        claimed = self._claimed.pop(message.id, None)
        if claimed is None and message.role == "user" and self._pending and self._pending[0].source == message.content:
            claimed = self._pending.pop(0)
        return claimed if claimed is not None and claimed.is_attached else None

    def _first_pending(self) -> Widget | None:
        pending = [*self._claimed.values(), *self._pending]
        attached = [widget for widget in pending if widget.is_attached]
        return min(attached, key=self.children.index) if attached else None

    def _settle_earlier(self, seen: Sequence[Message]) -> None:
        """Settle the streaming replies first stored before this look (their newest snapshots are there)."""
        pending = self._streams.keys() | self._snapshots.keys()
        for message in reversed(seen):
            if not pending:
                break
            if message.id in pending:
                pending.discard(message.id)
                self._settle(message)

    def _settle(self, message: Message) -> None:
        """A streaming reply's stored state: our own stream ends with the stored text; others' follow it."""
        interrupted = message.status == "interrupted"
        if (reply := self._streams.get(message.id)) is not None:
            if message.status == "streaming":
                return  # a snapshot of our own stream: its events are ahead of it
            del self._streams[message.id]
            reply.finish(message.content, interrupted=interrupted)
            blocks = self._renderer.render(message, with_text=False)
            if blocks:
                self.mount_all(blocks, after=reply.widget)
        elif (widget := self._snapshots.get(message.id)) is not None:
            if message.content != widget.source:
                widget.update(message.content)
                widget.set_class(not message.content, "-empty")
            if message.status == "streaming":
                return
            del self._snapshots[message.id]
            if interrupted:
                widget.mark_interrupted()
            blocks = self._renderer.assistant(message, with_text=False)
            if blocks:
                self.mount_all(blocks, after=widget)

    # ----- what the turns changed ----------------------------------------------------------------

    def _load_changes(self) -> None:
        """Read (in a thread) what the turns on screen changed, and the diffs their writing calls still lack."""
        name = self.conversation
        if name is None or not self._drawn:
            return
        if self._sync_scheduled:
            self._sync()  # the turn's last messages go on screen first, so their blocks are asked about too
        turn_ids = {widget.message_id for widget in self.query(UserMessage) if widget.message_id}
        calls = {block.call_id: (block.written_path, block.wants_stored_diff) for block in self.query(ToolCallBlock)
                 if block.call_id and block.written_path and block.state == "ok"}
        if not turn_ids and not calls:
            return
        # A store that cannot be read (no git) was already reported when its checkpoint failed; the view just
        # goes without diffs rather than saying so again on every redraw.
        run_blocking(self, partial(read_conversation_changes, self.runtime, name, turn_ids, calls),
                     partial(self._show_changes, name), what="Reading what the turns changed", group=CHANGES_GROUP,
                     exclusive=True, refused=lambda _refusal: None)

    def _show_changes(self, name: str, found: ConversationChanges) -> None:
        if name != self.conversation or not self._drawn:
            return
        for block in self.query(ToolCallBlock):
            if block.call_id in found.diffs and block.wants_stored_diff:
                path, diff, note = found.diffs[block.call_id]
                block.show_diff(path, diff, note=note)
        shown = {widget.message_id: widget for widget in self.query(TurnChanges)}
        for user in list(self.query(UserMessage)):
            change = found.turns.get(user.message_id or "")
            if change is None:
                continue
            summary = shown.get(change.message_id or "")
            if summary is None:
                summary = TurnChanges(user.message_id or "")
                self.mount(summary, before=self._next_turn(user))
            summary.show(change, found.undone.get(change.id))

    def _next_turn(self, user: UserMessage) -> Widget | None:
        """The first widget of the turn after `user`'s (None when it is the last turn)."""
        children = list(self.children)
        return next((child for child in children[children.index(user) + 1:] if isinstance(child, UserMessage)), None)

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

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == STREAM_GROUP and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.notify(f"The reply could not be drawn ({type(error).__name__}: {error}); it is saved.",
                        severity="error", timeout=10)


def _is_conversation_file(path: Path, name: str) -> bool:
    # Watchers report resolved paths; compare by name so symlinked workspace roots still match.
    return path.name == f"{name}.jsonl" and path.parent.name == "conversations"
