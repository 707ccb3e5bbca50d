"""The command palette (ctrl+p): every action of the app, the main screen, its panels, and every theme.

`ObotoApp.get_system_commands` offers these beside the Textual commands it keeps, so each action is listed once.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand
from textual.screen import Screen

from oboto.tui.messages import SwitchConversation

if TYPE_CHECKING:
    from oboto.tui.app import ObotoApp
    from oboto.tui.screens.main import MainScreen


def palette_commands(app: ObotoApp, screen: Screen[Any]) -> list[SystemCommand]:
    """Every command that makes sense over `screen`: focus and conversation commands only over the main screen."""
    commands = [
        SystemCommand("Quit", "Leave; asks first when a reply or background tasks would be cut short (ctrl+q)",
                      app.action_quit),
        SystemCommand("Help: keys", "Every key binding, by where it works (F1)", app.action_help),
        SystemCommand("Toggle sidebar", "Show or hide the sidebar (ctrl+b)", app.action_toggle_sidebar),
        SystemCommand("Answer question", "Answer the oldest blocking question (F2)", app.action_answer_question),
        SystemCommand("Memory: search and manage", "Search, read and delete the workspace memories (F7)",
                      app.action_memory),
    ]
    main = _main_screen(app)
    if main is not None:
        if screen is main:
            commands += _main_screen_commands(app, main)
            commands += _change_commands(main)
        commands += _loop_commands(main, over_main=screen is main)
        commands += _control_commands(app, main)
    commands += [
        SystemCommand(f"Theme: {name}", f"Switch to the {name} theme (remembered next time)",
                      partial(setattr, app, "theme", name))
        for name in sorted(app.available_themes)
    ]
    return commands


def _main_screen(app: ObotoApp) -> MainScreen | None:
    """The main screen, wherever it is in the stack (it stays at the bottom under detail views)."""
    # Imported when used: app.py imports this module, and the main screen imports every widget.
    from oboto.tui.screens.main import MainScreen

    return next((screen for screen in app.screen_stack if isinstance(screen, MainScreen)), None)


def _main_screen_commands(app: ObotoApp, main: MainScreen) -> list[SystemCommand]:
    from oboto.tui.widgets.conversations_panel import ConversationsPanel
    from oboto.tui.widgets.schedules_panel import SchedulesPanel

    conversations = main.query_one(ConversationsPanel)
    commands = [
        SystemCommand("New conversation", "Create a conversation and switch to it",
                      conversations.action_new_conversation),
        SystemCommand("Rename conversation", "Rename the conversation highlighted in the sidebar",
                      conversations.action_rename_conversation),
        SystemCommand("Delete conversation", "Delete the conversation highlighted in the sidebar",
                      conversations.action_delete_conversation),
        SystemCommand("Agent: choose", f"Choose the agent profile that answers in {main.conversation}",
                      partial(conversations.action_choose_agent, main.conversation)),
    ]
    for summary in app.runtime.conversations.list():
        shown = " (shown now)" if summary.name == main.conversation else ""
        commands.append(SystemCommand(f"Switch to conversation: {summary.name}",
                                      f"{summary.message_count} messages{shown}",
                                      partial(main.post_message, SwitchConversation(summary.name))))
    commands += [
        SystemCommand("Focus conversations", "The conversation list (F3)",
                      partial(main.action_focus_panel, "conversations")),
        SystemCommand("Focus tasks", "The background tasks (F4)", partial(main.action_focus_panel, "tasks")),
        SystemCommand("Focus schedules", "The recurring tasks (F5)", partial(main.action_focus_panel, "schedules")),
        SystemCommand("Focus loop", "The agent-loop controls (F6)", partial(main.action_focus_panel, "loop")),
        SystemCommand("Focus input", "The message input (ctrl+l)", main.action_focus_input),
        SystemCommand("New schedule", "Create a recurring task", main.query_one(SchedulesPanel).action_new_schedule),
        SystemCommand("Cancel reply", "Stop the agent's running reply; what was said is kept (Esc)",
                      main.action_cancel_reply),
    ]
    return commands


def _change_commands(main: MainScreen) -> list[SystemCommand]:
    """Undo, redo and diff of the shown conversation's changes to the workspace's files."""
    return [
        SystemCommand("Undo last change", f"Put back the files the latest turn of {main.conversation} changed; "
                      "asks first if they changed since (ctrl+z, /undo)", main.action_undo_change),
        SystemCommand("Redo", "Take the latest undo back (/redo)", main.action_redo_change),
        SystemCommand("Show last change", f"The diff of the latest change in {main.conversation} (/diff)",
                      main.action_show_diff),
    ]


def _loop_commands(main: MainScreen, *, over_main: bool) -> list[SystemCommand]:
    """The loop panel's own actions, so the palette and the panel say the same things; they work from any screen."""
    from oboto.tui.widgets.loop_panel import LoopPanel

    loop = main.query_one(LoopPanel)
    commands = [
        SystemCommand("Loop: play", "Start the autonomous agent loop, or resume it", loop.action_loop_play),
        SystemCommand("Loop: pause", "Pause the agent loop; a running tick goes on", loop.action_loop_pause),
        SystemCommand("Loop: stop", "Stop the agent loop", loop.action_loop_stop),
        SystemCommand("Loop: goals", "Edit what the agent loop works towards", loop.action_edit_goals),
    ]
    if over_main:
        commands.append(SystemCommand("Loop: set interval", "Change the time between loop runs",
                                      loop.action_edit_interval))
    return commands


def _control_commands(app: ObotoApp, main: MainScreen) -> list[SystemCommand]:
    """Permission modes, the rules in force, and the emergency stop."""
    from oboto.core.permissions import MODE_DESCRIPTIONS, MODES

    current = app.runtime.permission_mode
    commands = [
        SystemCommand(f"Mode: {mode}", MODE_DESCRIPTIONS[mode] + (" (now)" if mode == current else "") + " — ctrl+t",
                      partial(main.action_set_mode, mode))
        for mode in MODES
    ]
    commands += [
        SystemCommand("Permissions: show rules", "The mode and every allow, ask and deny rule in force",
                      partial(_show_rules, app)),
        SystemCommand("Emergency stop", "Cancel every task, pause every schedule and the loop (ctrl+s)",
                      main.action_emergency_stop),
        SystemCommand("Resume after emergency stop", "Resume exactly what the emergency stop paused",
                      main.action_resume_after_stop),
    ]
    return commands


def _show_rules(app: ObotoApp) -> None:
    permissions = app.runtime.settings.permissions
    lines = [f"mode {app.runtime.permission_mode} (background agents: {permissions.mode})"]
    for kind in ("deny", "ask", "allow"):
        rules = getattr(permissions, kind)
        lines.append(f"{kind}: {', '.join(rules) if rules else '—'}")
    lines.append(f"background asks: {'questions for you' if permissions.background_ask == 'question' else 'refused'}")
    app.notify("\n".join(lines), title="Permissions", timeout=15, markup=False)
