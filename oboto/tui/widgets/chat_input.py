"""The message box: multi-line, Enter sends, shift+enter or ctrl+j starts a new line, ↑ on the first line and ↓
on the last go through what was sent before, page up/down scroll the conversation, ctrl+z undoes typing (or,
on an empty box, the agent's latest change), Tab completes a slash command's name. A pasted block is inserted
whole, newlines and all."""

from __future__ import annotations

import os
from collections.abc import Callable

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

PLACEHOLDER = "Message the agent — Enter sends"


class ChatInput(TextArea):
    """Where the person writes to the agent; usable at any time, even while a reply streams."""

    DEFAULT_CSS = """
    ChatInput {
        height: auto;
        min-height: 3;
        max-height: 10;
        border: round $foreground 30%;
        &:focus { border: round $accent; }
    }
    """
    BINDINGS = [
        # Enter itself is taken in `_on_key` (TextArea inserts a newline for it there); listed for the footer.
        Binding("enter", "submit", "Send", id="input-send"),
        Binding("shift+enter,ctrl+j", "newline", "New line", id="input-newline", show=False),
        # TextArea's own actions (they move the cursor), listed for the help screen: at the edges they recall.
        Binding("up", "cursor_up", "An earlier message you sent (on the first line)", id="input-history-back",
                show=False),
        Binding("down", "cursor_down", "A later one, then your draft (on the last line)", id="input-history-forward",
                show=False),
        Binding("pageup", "cursor_page_up", "Scroll the conversation a page up", id="input-page-up", show=False),
        Binding("pagedown", "cursor_page_down", "Scroll the conversation a page down", id="input-page-down",
                show=False),
        Binding("ctrl+z", "undo", "Undo", id="input-undo", show=False),
        Binding("tab", "complete_command", "Complete a /command's name", id="input-complete", show=False),
    ]

    class UndoChangeRequested(Message):
        """ctrl+z on an empty box: there is no typing to undo, so the person means the agent's change."""

    class PageRequested(Message):
        """Page up (-1) or page down (1) in the box: the person means the conversation above it."""

        def __init__(self, direction: int) -> None:
            super().__init__()
            self.direction = direction

    class Submitted(Message):
        """The person pressed Enter on a message."""

        def __init__(self, chat_input: ChatInput, text: str) -> None:
            super().__init__()
            self.chat_input = chat_input
            self.text = text

        @property
        def control(self) -> ChatInput:
            return self.chat_input

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(text, id=id, classes=classes, soft_wrap=True, tab_behavior="focus",
                         show_line_numbers=False, highlight_cursor_line=False, placeholder=PLACEHOLDER)
        self.sent: list[str] = []
        """What was sent from here before, oldest first (the screen fills it from the workspace's input history);
        not `history`, which is TextArea's own undo history."""
        self._recalled: int | None = None
        """The index in `sent` shown now; None while the person's own draft is shown."""
        self._draft = ""
        self.command_names: Callable[[str], list[str]] | None = None
        """The slash commands (`/model`, …) whose name starts with what is typed; the screen sets it."""

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            # Stop TextArea's own handler (later in the MRO) from inserting a newline.
            event.stop()
            event.prevent_default()
            self.action_submit()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Tab completes only while a command's name is typed; otherwise it moves the focus as everywhere."""
        if action == "complete_command":
            return self._typing_command()
        return super().check_action(action, parameters)

    def _typing_command(self) -> bool:
        text = self.text
        return self.command_names is not None and text.startswith("/") and not any(char.isspace() for char in text)

    def action_complete_command(self) -> None:
        """Complete the command's name as far as the commands it may be agree (then a space, when just one);
        when they agree no further, say which they are."""
        if self.command_names is None:
            return
        text = self.text
        names = self.command_names(text)
        if not names:
            self.notify(f"No command starts with {text}; /help lists them.", severity="warning", timeout=4,
                        markup=False)
            return
        completed = names[0] + " " if len(names) == 1 else os.path.commonprefix(names)
        if len(completed) > len(text):
            self._show(completed)
        else:
            self.notify("  ".join(names), title="Commands", timeout=6, markup=False)

    def action_submit(self) -> None:
        """Send the text as it is; blank messages are not sent. Clearing is up to the receiver."""
        if self.text.strip():
            self.post_message(self.Submitted(self, self.text))

    def action_undo(self) -> None:
        if self.text:
            super().action_undo()
        else:
            self.post_message(self.UndoChangeRequested())

    def action_newline(self) -> None:
        if self.read_only:
            return
        start, end = self.selection
        self.replace("\n", start, end, maintain_selection_offset=False)

    # ----- going through what was sent before ------------------------------------------------------

    def load_history(self, stored: list[str]) -> None:
        """The workspace's history (oldest first), then what was sent here while it was being read."""
        recent = stored[-len(self.sent):] if self.sent else []
        self.sent = stored + [entry for entry in self.sent if entry not in recent]
        self._recalled = None

    def remember(self, text: str) -> None:
        """`text` was just sent: it is the newest entry, and the next ↑ starts from it."""
        if not self.sent or self.sent[-1] != text:
            self.sent.append(text)
        self._recalled = None

    def action_cursor_up(self, select: bool = False) -> None:
        if select or self.cursor_location[0] > 0 or not self._recall(-1):
            super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        if select or self.cursor_location[0] < self.document.line_count - 1 or not self._recall(1):
            super().action_cursor_down(select)

    def _recall(self, step: int) -> bool:
        """Show the entry `step` away from the one shown (-1: older); False when there is none that way."""
        if self._recalled is not None and self.text != self.sent[self._recalled]:
            self._recalled = None  # the person edited the recalled text: it is their draft now
        if self._recalled is None:
            if step > 0 or not self.sent:
                return False
            self._draft = self.text
            target = len(self.sent) - 1
        else:
            target = self._recalled + step
        if target < 0:
            return False
        if target >= len(self.sent):
            self._recalled = None
            self._show(self._draft)
        else:
            self._recalled = target
            self._show(self.sent[target])
        return True

    def _show(self, text: str) -> None:
        self.text = text
        self.move_cursor(self.document.end)

    # ----- the conversation above ------------------------------------------------------------------

    def action_cursor_page_up(self) -> None:
        self.post_message(self.PageRequested(-1))

    def action_cursor_page_down(self) -> None:
        self.post_message(self.PageRequested(1))
