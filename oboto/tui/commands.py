"""The command palette (ctrl+p): every action of the app, the main screen, its panels, and every theme."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from oboto.tui.messages import SwitchConversation

if TYPE_CHECKING:
    from oboto.tui.app import ObotoApp
    from oboto.tui.screens.main import MainScreen


@dataclass(frozen=True)
class PaletteCommand:
    """One palette entry: what it is called, what it does, and the call that does it."""

    name: str
    help: str
    callback: Callable[[], Any]


def palette_commands(app: ObotoApp, screen: Screen[Any]) -> list[PaletteCommand]:
    """Every command that makes sense over `screen`: focus and conversation commands only over the main screen."""
    commands = [
        PaletteCommand("Quit", "Stop the runner (tasks are recorded as interrupted) and leave", app.action_quit),
        PaletteCommand("Help: keys", "Every key binding, by where it works (F1)", app.action_help),
        PaletteCommand("Toggle sidebar", "Show or hide the sidebar (ctrl+b)", app.action_toggle_sidebar),
        PaletteCommand("Answer question", "Answer the oldest blocking question (F2)", app.action_answer_question),
        PaletteCommand("Memory: search and manage", "Search, read and delete the workspace memories (F7)",
                       app.action_memory),
    ]
    main = _main_screen(app)
    if main is not None:
        if screen is main:
            commands += _main_screen_commands(app, main)
        commands += _loop_commands(main, over_main=screen is main)
    commands += [
        PaletteCommand(f"Theme: {name}", f"Switch to the {name} theme (remembered next time)",
                       partial(setattr, app, "theme", name))
        for name in sorted(app.available_themes)
    ]
    return commands


def _main_screen(app: ObotoApp) -> MainScreen | None:
    """The main screen, wherever it is in the stack (it stays at the bottom under detail views)."""
    # Imported when used: app.py imports this module, and the main screen imports every widget.
    from oboto.tui.screens.main import MainScreen

    return next((screen for screen in app.screen_stack if isinstance(screen, MainScreen)), None)


def _main_screen_commands(app: ObotoApp, main: MainScreen) -> list[PaletteCommand]:
    from oboto.tui.widgets.conversations_panel import ConversationsPanel
    from oboto.tui.widgets.schedules_panel import SchedulesPanel

    conversations = main.query_one(ConversationsPanel)
    commands = [
        PaletteCommand("New conversation", "Create a conversation and switch to it", conversations.action_new_conversation),
        PaletteCommand("Rename conversation", "Rename the conversation highlighted in the sidebar",
                       conversations.action_rename_conversation),
        PaletteCommand("Delete conversation", "Delete the conversation highlighted in the sidebar",
                       conversations.action_delete_conversation),
    ]
    for summary in app.runtime.conversations.list():
        shown = " (shown now)" if summary.name == main.conversation else ""
        commands.append(PaletteCommand(f"Switch to conversation: {summary.name}",
                                       f"{summary.message_count} messages{shown}",
                                       partial(main.post_message, SwitchConversation(summary.name))))
    commands += [
        PaletteCommand("Focus conversations", "The conversation list (F3)", partial(main.action_focus_panel, "conversations")),
        PaletteCommand("Focus tasks", "The background tasks (F4)", partial(main.action_focus_panel, "tasks")),
        PaletteCommand("Focus schedules", "The recurring tasks (F5)", partial(main.action_focus_panel, "schedules")),
        PaletteCommand("Focus loop", "The agent-loop controls (F6)", partial(main.action_focus_panel, "loop")),
        PaletteCommand("Focus input", "The message input (ctrl+l)", main.action_focus_input),
        PaletteCommand("New schedule", "Create a recurring task", main.query_one(SchedulesPanel).action_new_schedule),
        PaletteCommand("Cancel reply", "Stop the agent's running reply; what was said is kept (Esc)",
                       main.action_cancel_reply),
    ]
    return commands


def _loop_commands(main: MainScreen, *, over_main: bool) -> list[PaletteCommand]:
    """The loop panel's own actions, so the palette and the panel say the same things; they work from any screen."""
    from oboto.tui.widgets.loop_panel import LoopPanel

    loop = main.query_one(LoopPanel)
    commands = [
        PaletteCommand("Loop: play", "Start the autonomous agent loop, or resume it", loop.action_loop_play),
        PaletteCommand("Loop: pause", "Pause the agent loop; a running tick goes on", loop.action_loop_pause),
        PaletteCommand("Loop: stop", "Stop the agent loop", loop.action_loop_stop),
    ]
    if over_main:
        commands.append(PaletteCommand("Loop: set interval", "Change the time between loop runs",
                                       loop.action_edit_interval))
    return commands


class ObotoCommands(Provider):
    """Offers `palette_commands` for the screen the palette was opened over."""

    def _commands(self) -> list[PaletteCommand]:
        return palette_commands(cast("ObotoApp", self.app), self.screen)

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.name, command.callback, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            if (score := matcher.match(command.name)) > 0:
                yield Hit(score, matcher.highlight(command.name), command.callback, text=command.name,
                          help=command.help)
