"""Every key binding, grouped by where it works, collected from the live app so the list cannot go stale."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Label, Static


@dataclass(frozen=True)
class HelpSection:
    """The bindings one class (the app, a screen, a panel) declares itself."""

    title: str
    bindings: tuple[Binding, ...]


def own_bindings(node_class: type[DOMNode]) -> tuple[Binding, ...]:
    """The bindings `node_class` declares in its own BINDINGS (not the ones it inherits from Textual).

    Unlike `Binding.make_bindings`, "escape,f1" stays one row, as it was declared.
    """
    declared = node_class.__dict__.get("BINDINGS", [])
    return tuple(item if isinstance(item, Binding) else Binding(*item) for item in declared)


def section_title(node_class: type[DOMNode]) -> str:
    """The class's own HELP_TITLE, else a readable name from its name: `ConversationsPanel` → "Conversations
    panel"."""
    if title := node_class.__dict__.get("HELP_TITLE"):
        return title
    words: list[str] = []
    for char in node_class.__name__:
        if char.isupper() and words:
            words.append(" ")
        words.append(char.lower() if words else char)
    return "".join(words)


def help_sections(screens: Iterable[Screen[Any]], app_class: type[App[Any]]) -> list[HelpSection]:
    """The app's bindings, then each screen's and those of the oboto widgets on it, each class once."""
    everywhere = own_bindings(app_class)
    if app_class.ENABLE_COMMAND_PALETTE:
        # Textual binds the palette itself, outside BINDINGS.
        everywhere += (Binding(app_class.COMMAND_PALETTE_BINDING, "command_palette", "Command palette: every action",
                               id="command-palette"),)
    sections = [HelpSection("Everywhere", everywhere)]
    seen: set[type[DOMNode]] = {app_class}
    listed = {binding.id for binding in everywhere}
    for screen in screens:
        for node in [screen, *screen.query("*")]:
            # The oboto classes a widget is built on first (the keys every focused message has), then its own.
            for node_class in reversed(type(node).__mro__):
                if node_class in seen or not node_class.__module__.startswith("oboto."):
                    continue
                seen.add(node_class)
                bindings = tuple(binding for binding in own_bindings(node_class) if binding.id not in listed)
                listed.update(binding.id for binding in bindings)
                if bindings:
                    sections.append(HelpSection(section_title(node_class), bindings))
    return sections


class HelpScreen(Screen[None]):
    """Lists every binding of the app, the screens below this one and their panels; Esc closes."""

    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,f1,q", "close", "Close help", id="help-close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            palette = self.app.COMMAND_PALETTE_BINDING
            yield Label(f"Keys  ·  Esc closes  ·  {palette} opens the command palette with every action", id="help-title")
            with VerticalScroll(id="help-sections"):
                screens = [screen for screen in self.app.screen_stack if screen is not self]
                for section in help_sections(screens, type(self.app)):
                    yield Static(section.title, classes="help-section-title", markup=False)
                    yield Static(self._table(section.bindings), classes="help-section")

    def on_mount(self) -> None:
        self.query_one("#help-sections").focus()

    def _table(self, bindings: Iterable[Binding]) -> Table:
        # A fixed key width lines the sections up under each other; only words a person reads, never binding ids.
        table = Table.grid(padding=(0, 2))
        table.add_column(width=14, no_wrap=True)
        table.add_column()
        for binding in bindings:
            keys = binding.key_display or " / ".join(
                self.app.get_key_display(Binding(key, binding.action)) for key in binding.key.split(","))
            table.add_row(Text(keys, style="bold"), Text(binding.description))
        return table

    def action_close(self) -> None:
        self.dismiss(None)
