"""The dialog for naming a conversation (create, rename), with the service's errors shown inline.

The dialog is handed the service call to make (`apply`, run in a thread worker: it fsyncs); it stays open
and shows the service's own message when the call is refused ("invalid conversation name …", "… already
exists"), and closes with the call's result once it succeeds. So the rules live in one place, the
ConversationManager. Deleting asks with the one ConfirmDialog (screens/confirm.py).
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from oboto.services.conversation_models import ConversationNameError, normalise_name
from oboto.tui.screens.dialog import Dialog
from oboto.tui.workers import run_blocking, running

APPLY_GROUP = "conversation-dialog"


class ConversationNameDialog(Dialog[str | None]):
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
