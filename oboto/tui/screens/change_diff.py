"""The whole diff of one checkpointed change, coloured, with the files it touched on top; Esc goes back."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from oboto.services.change_models import Change
from oboto.tui.keys import GlobalKeysFirst
from oboto.tui.widgets.change_views import ChangedFiles, styled_diff


class ChangeDiffScreen(GlobalKeysFirst):
    """What `oboto diff ID` prints, for the person reading in the TUI."""

    CSS_PATH = "change_diff.tcss"
    BINDINGS = [Binding("escape,q", "back", "Back", id="change-diff-back")]

    def __init__(self, change: Change, diff: str, undone_by: str | None = None) -> None:
        super().__init__()
        self.change = change
        self.diff = diff
        self.undone_by = undone_by

    def compose(self) -> ComposeResult:
        yield ChangedFiles(f"{self.change.who} changed", id="change-files")
        with VerticalScroll(id="change-diff"):
            text = styled_diff(self.diff.splitlines()) if self.diff.strip() else "No text differences to show."
            yield Static(text, id="change-diff-lines", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(ChangedFiles).show(self.change, self.undone_by)
        scroll = self.query_one("#change-diff", VerticalScroll)
        scroll.border_title = f"oboto diff {self.change.id}"
        scroll.focus()

    def action_back(self) -> None:
        self.dismiss()
