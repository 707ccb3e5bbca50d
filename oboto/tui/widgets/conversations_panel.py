"""The sidebar's conversation list: switch with Enter, create (n), rename (r), delete (d), choose its agent (a)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from oboto.core.events import (
    ConversationCreated,
    ConversationDeleted,
    ConversationRenamed,
    ConversationSwitched,
    Event,
    MessageAppended,
)
from oboto.services.conversation_models import MAIN_CONVERSATION, ConversationInfo
from oboto.services.conversations import ConversationSummary
from oboto.services.runtime import Runtime
from oboto.tui.live import follow
from oboto.tui.messages import SwitchConversation
from oboto.tui.screens.agent_dialogs import AgentPickerDialog
from oboto.tui.screens.confirm import ConfirmDialog
from oboto.tui.screens.conversation_dialogs import ConversationNameDialog

CONVERSATION_EVENTS = (ConversationCreated, ConversationRenamed, ConversationDeleted, ConversationSwitched,
                       MessageAppended)


class ConversationsPanel(OptionList):
    """Every conversation, `chat` first and its children below it, with message counts; ● marks the active one."""

    BINDINGS = [
        Binding("enter", "select", "Switch", id="conversation-switch", show=False),
        Binding("n", "new_conversation", "New", id="conversation-new"),
        Binding("r", "rename_conversation", "Rename", id="conversation-rename"),
        Binding("d", "delete_conversation", "Delete", id="conversation-delete"),
        Binding("a", "choose_agent", "Agent", id="conversation-agent", show=False),
    ]
    DEFAULT_CSS = """
    ConversationsPanel {
        max-height: 10;
        padding: 0;
        & > .option-list--option { padding: 0; }
    }
    """

    def __init__(self, runtime: Runtime, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.runtime = runtime
        self.border_title = "Conversations"
        self.rows: list[tuple[str, int, bool]] = []
        """(name, message count, active) of each row as last drawn."""

    def on_mount(self) -> None:
        follow(self, events=self._conversation_event, files=self._files_changed)
        self.reload()

    def _conversation_event(self, event: Event) -> None:
        if isinstance(event, CONVERSATION_EVENTS):
            self.reload()

    def _files_changed(self, changed: frozenset[Path]) -> None:
        if self.runtime.paths.conversation_index in changed:
            self.reload()

    def reload(self) -> None:
        """Re-read the list; keep the highlight on the same conversation; skip the redraw if nothing changed."""
        summaries = self.runtime.conversations.list()
        shown = [(item.name, item.message_count, item.active) for item in summaries]
        if shown == self.rows:
            return
        keep = self.highlighted_conversation
        self.rows = shown
        self.set_options(Option(_label(item), id=item.name) for item in summaries)
        self.border_title = f"Conversations ({len(summaries)})"
        names = [item.name for item in summaries]
        if keep in names:
            self.highlighted = names.index(keep)
        else:
            self.highlighted = next((index for index, item in enumerate(summaries) if item.active), 0)

    @property
    def highlighted_conversation(self) -> str | None:
        option = self.highlighted_option
        return option.id if option is not None else None

    def highlight(self, name: str) -> None:
        """Move the cursor to `name` (after the list was re-read)."""
        self.reload()
        try:
            self.highlighted = self.get_option_index(name)
        except LookupError:
            pass

    @on(OptionList.OptionSelected)
    def switch(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(SwitchConversation(event.option.id))

    def action_new_conversation(self) -> None:
        def created(name: str | None) -> None:
            if name:
                self.highlight(name)
                self.post_message(SwitchConversation(name))

        dialog = ConversationNameDialog("New conversation", lambda name: self.runtime.conversations.create(name).name)
        self.app.push_screen(dialog, created)

    def action_choose_agent(self, conversation: str | None = None) -> None:
        """Pick the agent profile that answers in the highlighted conversation (or in `conversation`)."""
        name = conversation or self.highlighted_conversation
        if name is None:
            return
        catalog = self.runtime.profiles.catalog()
        current = self.runtime.conversation_profile(name).name
        profiles = sorted(catalog.profiles.values(), key=lambda profile: profile.name)

        def chosen(info: ConversationInfo | None) -> None:
            if info is not None:
                self.notify(f"{info.agent} answers in {name} from now on.", title="Agent", timeout=4)

        self.app.push_screen(AgentPickerDialog(name, profiles, current,
                                               lambda agent: self.runtime.conversations.set_agent(name, agent)),
                             chosen)

    def action_rename_conversation(self) -> None:
        old = self.highlighted_conversation
        if old is None:
            return
        if old == MAIN_CONVERSATION:
            self.notify("The main conversation 'chat' cannot be renamed.", severity="warning", timeout=4)
            return
        def renamed(new: str | None) -> None:
            if new:
                self.highlight(new)

        dialog = ConversationNameDialog(f"Rename {old!r}", lambda new: self.runtime.conversations.rename(old, new),
                                        initial=old, verb="rename")
        self.app.push_screen(dialog, renamed)

    def action_delete_conversation(self) -> None:
        name = self.highlighted_conversation
        if name is None:
            return
        if name == MAIN_CONVERSATION:
            self.notify("The main conversation 'chat' cannot be deleted.", severity="warning", timeout=4)
            return
        count = next((count for shown, count, _active in self.rows if shown == name), 0)

        def deleted(_nothing: None) -> None:
            self.highlight(MAIN_CONVERSATION)
            self.notify(f"Deleted conversation {name!r}.", timeout=3, markup=False)

        if count == 0:
            consequence = "It has no messages yet."
        else:
            consequence = f"Its {count} message{'' if count == 1 else 's'} will be gone for good."
        self.app.push_screen(ConfirmDialog(f"Delete {name!r}?", consequence, "Delete",
                                           partial(self.runtime.conversations.delete, name), done=deleted,
                                           keep_label="Keep"))


def _label(item: ConversationSummary) -> Table:
    """One row: active marker, name (children indented under chat, cut with … when long), message count."""
    row = Table.grid(expand=True, padding=(0, 1, 0, 0))
    row.add_column(width=1, no_wrap=True)
    row.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    row.add_column(justify="right", no_wrap=True)
    marker = Text("●", style="bold") if item.active else Text(" ")
    indent = "" if item.parent is None else "└ "
    name = Text(indent, style="dim") + Text(item.name, style="bold" if item.active else "")
    row.add_row(marker, name, Text(str(item.message_count), style="dim"))
    return row
