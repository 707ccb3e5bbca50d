"""Small dialogs for creating, renaming and deleting conversations, with the service's errors shown inline.

Each dialog is handed the service call to make (`apply`, run in a thread worker: it fsyncs); it stays open
and shows the service's own message when the call is refused ("invalid conversation name …", "… already
exists"), and closes with the call's result once it succeeds. So the rules live in one place, the
ConversationManager.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from oboto.core.errors import RequestRefused
from oboto.services.conversation_models import ConversationNameError, normalise_name
from oboto.tui.workers import run_blocking, running

APPLY_GROUP = "conversation-dialog"


class ConversationNameDialog(ModalScreen[str | None]):
    """Ask for a conversation name and hand it to `apply`; dismissed with `apply`'s result, or None on Esc."""

    CSS_PATH = "conversation_dialogs.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog-cancel")]

    def __init__(self, title: str, apply: Callable[[str], str], *, initial: str = "", verb: str = "create") -> None:
        super().__init__()
        self.dialog_title = title
        self.apply = apply
        self.initial = initial
        self.verb = verb

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.dialog_title, id="dialog-title")
            yield Static("a-z, 0-9, '-' and '_'; up to 64 characters", id="dialog-help")
            yield Input(value=self.initial, placeholder="name", id="name", select_on_focus=True)
            yield Static("", id="dialog-error", markup=False)
            yield Static(f"Enter {self.verb} · Esc cancel", id="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def show_error(self, message: str) -> None:
        error = self.query_one("#dialog-error", Static)
        error.update(message)
        error.set_class(bool(message), "-shown")

    @on(Input.Changed, "#name")
    def check_as_typed(self, event: Input.Changed) -> None:
        """Say at once when a character is not allowed; "already exists" can only come from the service."""
        if not event.value.strip():
            self.show_error("")
            return
        try:
            normalise_name(event.value)
        except ConversationNameError as error:
            self.show_error(str(error))
        else:
            self.show_error("")

    @on(Input.Submitted, "#name")
    def submit(self, event: Input.Submitted) -> None:
        event.stop()
        if not running(self, APPLY_GROUP):
            run_blocking(self, partial(self.apply, event.value), self._applied, what=self.dialog_title,
                         group=APPLY_GROUP, refused=lambda error: self.show_error(str(error)))

    def _applied(self, result: str) -> None:
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)


class DeleteConversationDialog(ModalScreen[bool]):
    """Confirm deleting a conversation; `y` deletes (through `apply`), `n` or Esc keeps it."""

    CSS_PATH = "conversation_dialogs.tcss"
    BINDINGS = [
        Binding("y", "confirm", "Delete", id="dialog-confirm-delete"),
        Binding("n,escape", "cancel", "Keep", id="dialog-cancel"),
    ]

    def __init__(self, name: str, message_count: int, apply: Callable[[], None]) -> None:
        super().__init__()
        self.conversation = name
        self.message_count = message_count
        self.apply = apply

    def compose(self) -> ComposeResult:
        if self.message_count == 0:
            consequence = "It has no messages yet."
        else:
            noun = "message" if self.message_count == 1 else "messages"
            consequence = f"Its {self.message_count} {noun} will be gone for good."
        with Vertical(id="dialog", classes="-danger"):
            yield Label(f"Delete {self.conversation!r}?", id="dialog-title", markup=False)
            yield Static(consequence, id="dialog-help")
            yield Static("", id="dialog-error", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Delete (y)", variant="error", id="confirm")
                yield Button("Keep (n)", id="cancel")

    def on_mount(self) -> None:
        # The safe choice has the focus, so a stray Enter keeps the conversation.
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        if not running(self, APPLY_GROUP):
            run_blocking(self, self.apply, self._applied, what=f"Deleting {self.conversation!r}", group=APPLY_GROUP,
                         refused=self._refused)

    def _applied(self, _nothing: None) -> None:
        self.dismiss(True)

    def _refused(self, error: RequestRefused) -> None:
        error_line = self.query_one("#dialog-error", Static)
        error_line.update(str(error))
        error_line.add_class("-shown")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
