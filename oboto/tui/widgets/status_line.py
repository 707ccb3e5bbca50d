"""The line under the conversation: the permission mode (always visible), the conversation and the model."""

from __future__ import annotations

from textual.widgets import Static

from oboto.core.events import Event, PermissionModeChanged
from oboto.services.runtime import Runtime
from oboto.tui.live import follow


class StatusLine(Static):
    """Redrawn when the mode changes or another conversation is shown."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        margin: 0 1;
        color: $text-muted;
    }
    """

    def __init__(self, runtime: Runtime, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.runtime = runtime
        self.conversation = runtime.conversations.active

    def on_mount(self) -> None:
        follow(self, events=self._event)
        self.refresh_line()

    def _event(self, event: Event) -> None:
        if isinstance(event, PermissionModeChanged):
            self.refresh_line()

    def show_conversation(self, name: str) -> None:
        self.conversation = name
        self.refresh_line()

    def refresh_line(self) -> None:
        model = self.runtime.model_choice.model or "no model"
        mode = self.runtime.permission_mode
        self.set_class(mode == "full", "-full")
        # The model goes last: at 80 columns it is what gets cut, never the mode.
        self.update(f"mode {mode} (ctrl+t) · {self.conversation} · {model}")
