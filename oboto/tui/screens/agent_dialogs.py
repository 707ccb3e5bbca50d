"""Choosing a conversation's agent, and editing the agent loop's goals: two small dialogs.

Like the conversation dialogs, each is handed the service call to make (run in a thread worker, as it fsyncs),
shows a refusal inline and closes with the call's result.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from oboto.agent.profiles import AgentProfile
from oboto.tui.screens.dialog import Dialog
from oboto.tui.workers import run_blocking, running

APPLY_GROUP = "agent-dialog"


class _ApplyingDialog(Dialog[Any]):
    """A dialog that closes with its service call's result, shows a refusal inline, and closes on Esc with None."""

    CSS_PATH = "agent_dialogs.tcss"

    def _applied(self, result: Any) -> None:
        self.dismiss(result)  # not awaited: it is called from this screen's own message handler

    def _refused(self, error: Exception) -> None:
        line = self.query_one("#dialog-error", Static)
        line.update(str(error))
        line.set_class(True, "-shown")

    def action_cancel(self) -> None:
        self.dismiss(None)


class AgentPickerDialog(_ApplyingDialog):
    """Pick the agent profile that answers in a conversation; Enter applies it, Esc keeps the current one."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="agent-picker-cancel")]

    def __init__(self, conversation: str, profiles: list[AgentProfile], current: str,
                 apply: Callable[[str], Any]) -> None:
        super().__init__()
        self.conversation = conversation
        self.profiles = profiles
        self.current = current
        self.apply = apply

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Agent for {self.conversation!r}", id="dialog-title", markup=False)
            yield OptionList(*(Option(f"{'● ' if profile.name == self.current else '  '}{profile.name} — "
                                      f"{profile.description}", id=profile.name) for profile in self.profiles),
                             id="agents")
            yield Static("", id="dialog-error", markup=False)
            yield Static("Enter choose · Esc cancel", id="dialog-keys")

    def on_mount(self) -> None:
        agents = self.query_one("#agents", OptionList)
        names = [profile.name for profile in self.profiles]
        agents.highlighted = names.index(self.current) if self.current in names else 0
        agents.focus()

    @on(OptionList.OptionSelected, "#agents")
    def choose(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None and not running(self, APPLY_GROUP):
            run_blocking(self, partial(self.apply, event.option.id), self._applied, what="Choosing the agent",
                         group=APPLY_GROUP, refused=self._refused)


class LoopGoalsDialog(_ApplyingDialog):
    """Edit the agent loop's goals, one per line; ctrl+s saves (an empty text clears them), Esc keeps them."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save goals", id="loop-goals-save", priority=True),
        Binding("escape", "cancel", "Cancel", id="loop-goals-cancel"),
    ]

    def __init__(self, goals: list[str], apply: Callable[[list[str]], Any]) -> None:
        super().__init__()
        self.goals = goals
        self.apply = apply

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Agent loop goals", id="dialog-title")
            yield Static("One goal per line, most important first; the loop's briefing recalls memories for them.",
                         id="dialog-help")
            yield TextArea("\n".join(self.goals), id="goals", soft_wrap=True, show_line_numbers=False)
            yield Static("", id="dialog-error", markup=False)
            yield Static("ctrl+s save · Esc cancel", id="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#goals", TextArea).focus()

    def action_save(self) -> None:
        goals = [line.strip() for line in self.query_one("#goals", TextArea).text.splitlines() if line.strip()]
        if not running(self, APPLY_GROUP):
            run_blocking(self, partial(self.apply, goals), self._applied, what="Saving the loop goals",
                         group=APPLY_GROUP, refused=self._refused)

