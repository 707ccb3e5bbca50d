"""One background task: its record at the top and its output log, followed live while the task works."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, Log, Static

from oboto.core.events import ChangeRecorded, Event
from oboto.services.change_models import Change
from oboto.services.runtime import Runtime
from oboto.services.task_log import elapsed_text
from oboto.services.task_models import TaskRecord
from oboto.services.tasks import TaskError
from oboto.tui.changes import show_change_diff, undo_change
from oboto.tui.keys import GlobalKeysFirst
from oboto.tui.live import follow
from oboto.tui.widgets.change_views import ChangedFiles
from oboto.tui.widgets.tasks_panel import TASK_EVENTS, cancel_task, status_content
from oboto.tui.workers import run_blocking

FOLLOW_SECONDS = 0.25
OUTCOME_LINES = 3
LOG_MAX_LINES = 20_000


class TaskSummary(Static):
    """The task's id, status, origin, elapsed time and outcome; re-read when its record changes."""

    class Changed(Message):
        """The record was re-read (it may have ended)."""

        def __init__(self, record: TaskRecord) -> None:
            super().__init__()
            self.record = record

    def __init__(self, runtime: Runtime, record: TaskRecord, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.runtime = runtime
        self.record = record

    def on_mount(self) -> None:
        self.border_title = "Background task"
        self.show()
        follow(self, events=self._task_event, files=self._files_changed)

    def _task_event(self, event: Event) -> None:
        if isinstance(event, TASK_EVENTS) and event.task_id == self.record.id:
            self._reload()

    def _files_changed(self, changed: frozenset[Path]) -> None:
        if self.runtime.paths.task_record(self.record.id) in changed:
            self._reload()

    def _reload(self) -> None:
        try:
            self.record = self.runtime.tasks.get(self.record.id)
        except TaskError:
            return  # the record was removed; keep showing what was last known
        self.show()
        self.post_message(self.Changed(self.record))

    def show(self) -> None:
        """Render the record held (also called each follow step, so the elapsed time moves on)."""
        record = self.record
        status = status_content(record.status)
        if record.started_at is not None:
            status += f" {'in' if record.finished else 'for'} {elapsed_text(record.elapsed_seconds)}"
        facts = [status, Content(f"from {record.origin}")]
        if record.finished:
            facts.append(Content(f"{_count(record.iterations, 'step')} · {_count(record.tool_calls, 'tool call')}"))
        lines = [Content.assemble((record.id, "bold"), "  ", Content(" · ").join(facts)), Content(record.description)]
        if record.status == "completed" and record.result:
            lines.append(_outcome("Result", record.result, "$success"))
        elif record.error:
            label, style = ("Why", "$warning") if record.status in ("cancelled", "interrupted") else ("Error", "$error")
            lines.append(_outcome(label, record.error, style))
        self.update(Content("\n").join(lines))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _outcome(label: str, text: str, style: str) -> Content:
    """The first few lines of a result or error; the whole of it is in the log below."""
    lines = text.strip().splitlines()
    shown = "\n".join(lines[:OUTCOME_LINES]) + (" …" if len(lines) > OUTCOME_LINES else "")
    return Content.assemble((f"{label}: ", f"bold {style}"), shown)


class TaskChanges(ChangedFiles):
    """The files the task changed, read from the checkpoint store once it recorded them (in a thread)."""

    def __init__(self, runtime: Runtime, task_id: str, *, id: str | None = None) -> None:
        super().__init__("changed", id=id)
        self.runtime = runtime
        self.task_id = task_id

    def on_mount(self) -> None:
        self.border_title = "Files changed"
        self.display = False
        follow(self, events=self._change_event)
        self.reload()

    def _change_event(self, event: Event) -> None:
        if isinstance(event, ChangeRecorded) and event.task_id == self.task_id:
            self.reload()

    def reload(self) -> None:
        def read() -> tuple[Change, str | None] | None:
            checkpoints = self.runtime.checkpoints
            changes = checkpoints.changes(task_id=self.task_id)
            own = [change for change in changes if change.kind == "task" and change.parent is None]
            return (own[-1], checkpoints.undone_by(changes).get(own[-1].id)) if own else None

        # Without a readable store there is nothing to list; the failed checkpoint already said why.
        run_blocking(self, read, self._read, what="Reading the task's changes", group="task-changes",
                     exclusive=True, refused=lambda _refusal: None)

    def _read(self, found: tuple[Change, str | None] | None) -> None:
        if found is not None:
            self.show(*found)
            self.display = True
            self.screen.refresh_bindings()


class TaskDetailScreen(GlobalKeysFirst):
    """A task's record, the files it changed and its live output log; `c` cancels it, `u` undoes its change."""

    CSS_PATH = "task_detail.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", id="task-detail-back"),
        Binding("c", "cancel_task", "Cancel task", id="task-detail-cancel"),
        Binding("u", "undo_task_change", "Undo its change", id="task-detail-undo"),
        Binding("d", "show_task_diff", "Diff", id="task-detail-diff"),
    ]

    def __init__(self, runtime: Runtime, task_id: str) -> None:
        super().__init__()
        self.runtime = runtime
        self.task_id = task_id
        self._offset = 0
        self._follower: Timer | None = None

    def compose(self) -> ComposeResult:
        try:
            record = self.runtime.tasks.get(self.task_id)
        except TaskError as error:
            yield Static(str(error), id="missing")
            yield Footer(compact=True)
            return
        yield TaskSummary(self.runtime, record, id="summary")
        yield TaskChanges(self.runtime, self.task_id, id="changes")
        yield Log(max_lines=LOG_MAX_LINES, id="output")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        summaries = self.query(TaskSummary)
        if not summaries:
            return
        self.query_one(Log).border_title = "Output"
        self._follow()
        if not summaries.first().record.finished:
            self._follower = self.set_interval(FOLLOW_SECONDS, self._follow)
        self.query_one(Log).focus()

    def _follow(self) -> None:
        """Append what the log gained since the last read; follow the end only if the reader is there."""
        try:
            output = self.runtime.tasks.output(self.task_id, offset=self._offset)
        except TaskError:
            return
        self._offset = output.offset
        if output.text:
            log = self.query_one(Log)
            log.write(output.text, scroll_end=log.is_vertical_scroll_end)
        summary = self.query_one(TaskSummary)
        if not summary.record.finished:
            summary.show()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Cancel shows greyed out once the task has ended; undo and diff show once it changed files."""
        if action == "cancel_task":
            summaries = self.query(TaskSummary)
            return None if summaries and summaries.first().record.finished else True
        if action in ("undo_task_change", "show_task_diff"):  # hidden while the task changed no file
            changes = self.query(TaskChanges)
            return bool(changes) and changes.first().change is not None
        return True

    def on_task_summary_changed(self, message: TaskSummary.Changed) -> None:
        self.refresh_bindings()
        if message.record.finished and self._follower is not None:
            self._follower.stop()
            self._follower = None
            self._follow()  # the last lines written before the task ended

    def action_back(self) -> None:
        self.dismiss()

    def action_cancel_task(self) -> None:
        cancel_task(self, self.runtime, self.task_id)

    def action_undo_task_change(self) -> None:
        change = self.query_one(TaskChanges).change
        if change is not None:
            undo_change(self, self.runtime, change_id=change.id)

    def action_show_task_diff(self) -> None:
        change = self.query_one(TaskChanges).change
        if change is not None:
            show_change_diff(self, self.runtime, change_id=change.id)
