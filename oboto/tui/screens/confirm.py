"""The one confirmation for every destructive action: y does it, n or Esc keeps things as they are.

Deleting a conversation, a schedule or a memory, cancelling a task, the emergency stop, quitting while agents
work, an undo that overwrites later changes: each asks here, in the same words and keys. The action itself
(`apply`) runs in a thread worker, since most of them fsync; a refusal is shown inline and the dialog stays open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Static

from oboto.core.errors import RequestRefused
from oboto.tui.screens.dialog import Dialog
from oboto.tui.workers import run_blocking, running

APPLY_GROUP = "confirm-apply"


class ConfirmDialog(Dialog[bool]):
    """Ask before `apply` (None: `done` alone acts); dismissed with True once it is done (then `done` gets its
    result), False when kept."""

    CSS_PATH = "conversation_dialogs.tcss"
    BINDINGS = [
        Binding("y", "confirm", "Yes", id="dialog-confirm"),
        Binding("n,escape", "cancel", "No", id="dialog-cancel"),
    ]

    def __init__(self, title: str, consequence: str, confirm_label: str, apply: Callable[[], Any] | None, *,
                 done: Callable[[Any], object] | None = None, keep_label: str = "Cancel") -> None:
        super().__init__()
        self.title_text = title
        self.consequence = consequence
        self.confirm_label = confirm_label
        self.keep_label = keep_label
        self.apply = apply
        self.done = done

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-danger"):
            yield Label(self.title_text, id="dialog-title", markup=False)
            yield Static(self.consequence, id="dialog-help", markup=False)
            yield Static("", id="dialog-error", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button(f"{self.confirm_label} (y)", variant="error", id="confirm")
                yield Button(f"{self.keep_label} (n)", id="cancel")

    def on_mount(self) -> None:
        # The safe choice has the focus, so a stray Enter changes nothing.
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        if self.apply is None:  # nothing to run here: `done` does it (quitting, say)
            self._applied(None)
        elif not running(self, APPLY_GROUP):  # a second y while the first is on its way does it once
            run_blocking(self, self.apply, self._applied, what=self.title_text.rstrip("?"), group=APPLY_GROUP,
                         refused=self._refused)

    def _applied(self, result: Any) -> None:
        self.dismiss(True)
        if self.done is not None:
            self.done(result)

    def _refused(self, error: RequestRefused) -> None:
        error_line = self.query_one("#dialog-error", Static)
        error_line.update(str(error))
        error_line.add_class("-shown")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
