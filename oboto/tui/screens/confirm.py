"""One confirmation style for destructive actions: y does it, n or Esc keeps things as they are."""

from __future__ import annotations

from typing import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmDialog(ModalScreen[bool]):
    """Ask before `apply`; a refusal (`RequestRefused` and the like) is shown inline and the dialog stays open."""

    CSS_PATH = "conversation_dialogs.tcss"
    BINDINGS = [
        Binding("y", "confirm", "Yes", id="dialog-confirm"),
        Binding("n,escape", "cancel", "No", id="dialog-cancel"),
    ]

    def __init__(self, title: str, consequence: str, confirm_label: str, apply: Callable[[], None],
                 *, refusals: tuple[type[Exception], ...] = (Exception,)) -> None:
        super().__init__()
        self.title_text = title
        self.consequence = consequence
        self.confirm_label = confirm_label
        self.apply = apply
        self.refusals = refusals

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-danger"):
            yield Label(self.title_text, id="dialog-title", markup=False)
            yield Static(self.consequence, id="dialog-help", markup=False)
            yield Static("", id="dialog-error", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button(f"{self.confirm_label} (y)", variant="error", id="confirm")
                yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        # The safe choice has the focus, so a stray Enter changes nothing.
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        try:
            self.apply()
        except self.refusals as error:
            error_line = self.query_one("#dialog-error", Static)
            error_line.update(str(error))
            error_line.add_class("-shown")
            return
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
