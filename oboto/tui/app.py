"""The oboto terminal app: one factory for the CLI and the tests, the bridge from services to widgets."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import Notification, Notify, SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.signal import Signal
from textual.widgets import TextArea

from oboto.core.events import Event, FileQuarantined, RunnerChanged, WorkspaceWarning
from oboto.services.command_socket import CommandHandler
from oboto.services.runtime import Runtime
from oboto.tui.commands import palette_commands
from oboto.tui.messages import ServiceEvent, WorkspaceChanged
from oboto.tui.themes import register_themes
from oboto.tui.workers import BlockingCallDone

# Textual's own palette entries that oboto offers in its own words: "Quit" stops the runner first, "Help: keys"
# shows every binding, and each theme has a "Theme: <name>" entry that is remembered.
REPLACED_SYSTEM_COMMANDS = frozenset({"Quit", "Keys", "Theme"})


class ObotoApp(App[None]):
    """Chat with the agent while background agents, schedules and the loop keep working."""

    # The default screen's own CSS_PATH is not loaded by Textual, so the app loads it.
    CSS_PATH = ["app.tcss", "screens/main.tcss"]
    TITLE = "oboto"
    # The footer shows F1, F2 and ctrl+b first on every screen (tui/keys.py); keys with show=False are
    # listed only by the help screen (F1), so the footer fits at 80 columns.
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True, show=False),
        Binding("f1", "help", "Help", id="help"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", id="toggle-sidebar"),
        Binding("f2", "answer_question", "Answer", id="answer-question", priority=True),
        # Priority: the chat input (a TextArea) binds F7 to "select all".
        Binding("f7", "memory", "Memory", id="memory", priority=True, show=False),
    ]

    runner_state: reactive[str] = reactive("starting")

    def __init__(self, runtime: Runtime, *, start_runner: bool = True, watch_files: bool = True,
                 commands: CommandHandler | None = None) -> None:
        super().__init__()
        self.runtime = runtime
        self.commands = commands
        """What the runner serves short CLI commands with on `.oboto/runner.sock` (given by the `oboto` command)."""
        self.start_runner = start_runner
        self.watch_files = watch_files
        self.runner = None
        self.service_events: Signal[Event] = Signal(self, "service-events")
        """Every event the services publish, delivered on the UI thread; live widgets subscribe (tui/live.py)."""
        self.workspace_files: Signal[frozenset[Path]] = Signal(self, "workspace-files")
        """Every batch of files changed under `.oboto/` (often by another process)."""
        self._stop_listening: list[Callable[[], None]] = []
        self._model_warmed = False

    def get_default_screen(self):
        from oboto.tui.screens.main import MainScreen

        return MainScreen(self.runtime)

    def on_mount(self) -> None:
        register_themes(self)
        self.sub_title = str(self.runtime.paths.root)
        self._stop_listening.append(self.runtime.bus.subscribe(self._forward))
        for message in self.runtime.warnings:
            self.notify(message, title="Settings", severity="warning", timeout=10)
        if self.start_runner:
            self.run_worker(self._hold_runner(), name="runner", group="runner", exit_on_error=False)
        if self.watch_files:
            # The process's one watcher: the runner listens to the same one (services/runner.py).
            self._stop_listening.append(self.runtime.watcher.subscribe(self._files_changed))
        if self.runtime.model_choice.discovery_pending:
            self.call_after_refresh(self._settle_model_choice)

    def on_unmount(self) -> None:
        for stop in self._stop_listening:
            stop()
        self._stop_listening.clear()

    @on(TextArea.Changed, "ChatInput")
    def _person_started_typing(self) -> None:
        """Load the model library (litellm, or the local model) while the person writes the first message: an
        idle TUI holds no model, and the first reply does not wait for the import."""
        choice = self.runtime.model_choice
        if not self._model_warmed and (choice.model or choice.discovery_pending):
            self._model_warmed = True
            self._warm_up_model_client()

    def _settle_model_choice(self) -> None:
        """In a thread after the first frame: which model, probing for a local server when nothing is configured
        (the status line shows the choice when ModelChosen arrives); no model library is loaded yet."""
        self.run_worker(self.runtime.settle_model, name="settle-model", group="warm-up", thread=True,
                        exit_on_error=False)

    def _warm_up_model_client(self) -> None:
        """In a thread: settle the model choice, then load the model library (litellm, or the local model), so
        the first reply waits for neither."""
        runtime = self.runtime
        log_path = runtime.paths.logs_dir / "litellm.log"

        def warm_up() -> object:
            choice = runtime.settle_model()
            if choice.model is None:
                return None
            if choice.is_local:
                from oboto.llm.local import shared_engine

                return shared_engine(choice.model, runtime.paths.root).load()
            from oboto.llm.litellm_setup import load_litellm

            return load_litellm(log_path)

        self.run_worker(warm_up, name="warm-up", group="warm-up", thread=True, exit_on_error=False)

    def _forward(self, event: Event) -> None:
        """Bus handler: may be called from any thread, so it only posts a message."""
        self.post_message(ServiceEvent(event))

    def on_service_event(self, message: ServiceEvent) -> None:
        event = message.event
        if isinstance(event, FileQuarantined):
            self.notify(f"{event.path} could not be read ({event.reason}); it was moved to {event.moved_to}",
                        title="File moved aside", severity="error", timeout=15)
        elif isinstance(event, WorkspaceWarning):
            self.notify(event.message, severity="warning", timeout=10)
        elif isinstance(event, RunnerChanged) and event.pid == os.getpid():
            self.runner_state = "runner" if event.is_runner else "stopped"
        self.service_events.publish(event)

    def _files_changed(self, changed: frozenset[Path]) -> None:
        """Watcher listener: posted, so file changes and bus events reach the widgets in the order they came."""
        self.post_message(WorkspaceChanged(changed))
        self._refresh_runner_state()

    def on_workspace_changed(self, message: WorkspaceChanged) -> None:
        self.workspace_files.publish(message.changed)

    def on_blocking_call_done(self, message: BlockingCallDone) -> None:
        """Apply a blocking call's outcome on the queue of the widget that made it, if it is still mounted."""
        if message.node.is_attached:
            message.node.call_next(message.outcome)

    async def _hold_runner(self) -> None:
        """Be the runner when possible; otherwise work as a client and keep trying to take over."""
        from oboto.services.runner import Runner

        if self.runtime.model_choice.discovery_pending:
            # Settled off the event loop first, so no task of the runner waits on the local-server probe in it.
            await asyncio.to_thread(self.runtime.settle_model)
        self.runner = Runner(self.runtime, commands=self.commands)
        holder = self.runner.holder_pid()
        if holder is not None:
            self.runner_state = f"client (process {holder} runs agents)"
        await self.runner.run()

    def _refresh_runner_state(self) -> None:
        if self.runner is not None and not self.runner.is_runner:
            holder = self.runner.holder_pid()
            self.runner_state = f"client (process {holder} runs agents)" if holder else "taking over…"

    def watch_runner_state(self, state: str) -> None:
        self.sub_title = f"{self.runtime.paths.root} · {state}"

    def action_quit(self) -> None:
        """ctrl+q: leave at once when nothing would be cut short; otherwise say what stops and ask first."""
        from oboto.tui.screens.confirm import ConfirmDialog

        if any(isinstance(screen, ConfirmDialog) for screen in self.screen_stack):
            return  # a second ctrl+q while a question is open does not stack another
        interrupted = self._work_quitting_stops()
        if not interrupted:
            self.run_worker(self.quit_now(), group="quit", exit_on_error=False)
            return
        self.push_screen(ConfirmDialog(
            "Quit now?", "\n".join([*interrupted, "`oboto daemon` keeps agents working while the app is closed."]),
            "Quit", None, keep_label="Stay",
            done=lambda _nothing: self.run_worker(self.quit_now(), group="quit", exit_on_error=False)))

    def _work_quitting_stops(self) -> list[str]:
        """What quitting this process would cut short, one line each (nothing: quit without asking)."""
        from oboto.tui.screens.main import MainScreen

        lines = []
        if any(isinstance(screen, MainScreen) and screen.replying for screen in self.screen_stack):
            lines.append("The reply being written stops; what it said so far is kept.")
        running = self.runtime.tasks.running_ids if self.runner is not None and self.runner.is_runner else []
        if running:
            count = len(running)
            lines.append(f"{count} background task{' stops' if count == 1 else 's stop'} and "
                         f"{'is' if count == 1 else 'are'} recorded as interrupted "
                         "(`oboto tasks continue ID` picks one up again).")
        return lines

    async def quit_now(self) -> None:
        """Stop the runner first, so tasks it was running are recorded as interrupted, then leave."""
        if self.runner is not None:
            self.runner.stop()
            await self.workers.wait_for_complete([w for w in self.workers if w.group == "runner"])
        await self.runtime.aclose()  # the MCP servers this process started
        self.exit()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette: every action once (Textual's screenshot and maximize, then oboto's own)."""
        for command in super().get_system_commands(screen):
            if command.title not in REPLACED_SYSTEM_COMMANDS:
                yield command
        yield from palette_commands(self, screen)

    def notify_until_withdrawn(self, message: str, *, title: str, severity: SeverityLevel,
                               timeout: float) -> Notification:
        """A toast (plain text) the caller may take away before its timeout; `notify` gives no handle to do so."""
        notification = Notification(message, title, severity, timeout, markup=False)
        self.post_message(Notify(notification))
        return notification

    def withdraw_notification(self, notification: Notification) -> None:
        """Take a toast away now (what it announced is over); Textual's own Toast does this when clicked."""
        if notification in self._notifications:
            self._unnotify(notification)

    def action_help(self) -> None:
        from oboto.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """ctrl+b is offered only where there is a sidebar to hide (not over a task's detail, say)."""
        if action == "toggle_sidebar":
            return bool(self.screen.query("#sidebar"))
        return True

    def action_toggle_sidebar(self) -> None:
        """Hide or show the sidebar; what is hidden keeps no focus, so its panels' keys cannot act unseen."""
        found = self.screen.query("#sidebar")
        if not found:
            return
        sidebar = found.first()
        sidebar.toggle_class("-hidden")
        if sidebar.has_class("-hidden") and self.focused is not None and sidebar in self.focused.ancestors:
            self.screen.query_one("#input").focus()

    def action_memory(self) -> None:
        from oboto.tui.screens.memory import MemoryScreen

        # One memory view at a time: two would both reload on every memory event.
        if not any(isinstance(screen, MemoryScreen) for screen in self.screen_stack):
            self.push_screen(MemoryScreen(self.runtime))

    def action_answer_question(self) -> None:
        from oboto.tui.screens.question_modal import QuestionModal

        open_questions = self.runtime.questions.open_questions()
        if not open_questions:
            self.notify("No agent is waiting for an answer.", timeout=3)
            return
        if isinstance(self.screen, QuestionModal):
            return
        self.push_screen(QuestionModal(self.runtime, open_questions[0].id))


def make_app(workspace: str | os.PathLike[str] | None = None, *, runtime: Runtime | None = None,
             start_runner: bool = True, watch_files: bool = True, commands: CommandHandler | None = None) -> ObotoApp:
    """Build the app on a workspace (default: the current folder); the CLI and the tests both use this."""
    runtime = runtime or Runtime.open(Path(workspace or "."))
    return ObotoApp(runtime, start_runner=start_runner, watch_files=watch_files, commands=commands)
