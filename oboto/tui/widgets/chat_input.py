"""The message box: multi-line, Enter sends, shift+enter or ctrl+j starts a new line, ctrl+z undoes typing
(or, on an empty box, the agent's latest change)."""

from __future__ import annotations

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
        Binding("ctrl+z", "undo", "Undo", id="input-undo"),
    ]

    class UndoChangeRequested(Message):
        """ctrl+z on an empty box: there is no typing to undo, so the person means the agent's change."""

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

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            # Stop TextArea's own handler (later in the MRO) from inserting a newline.
            event.stop()
            event.prevent_default()
            self.action_submit()

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
