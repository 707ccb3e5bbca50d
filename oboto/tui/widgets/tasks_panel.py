"""The sidebar's background tasks: newest first, each with its live status and elapsed time."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from oboto.core.events import Event, TaskCancelRequested, TaskFinished, TaskQueued, TaskStarted, TaskStatusChanged
from oboto.services.runtime import Runtime
from oboto.services.task_log import elapsed_text
from oboto.services.task_models import LOOP_ORIGIN, TaskRecord
from oboto.services.tasks import TaskError
from oboto.tui.live import follow
from oboto.tui.messages import OpenTask
from oboto.tui.screens.confirm import ConfirmDialog
from oboto.tui.workers import run_blocking

TASK_EVENTS = (TaskQueued, TaskStarted, TaskStatusChanged, TaskFinished, TaskCancelRequested)
# One glyph and theme colour per status, shared with the task detail view.
STATUS_STYLES: dict[str, tuple[str, str]] = {
    "queued": ("○", "$text-muted"),
    "running": ("●", "$accent"),
    "awaiting_answer": ("?", "$warning"),
    "completed": ("✓", "$success"),
    "failed": ("✗", "$error"),
    "cancelled": ("⊘", "$text-muted"),
    "timed_out": ("◷", "$error"),
    "interrupted": ("↯", "$warning"),
}
# Elapsed times are right-aligned in a fixed column so descriptions line up.
ELAPSED_WIDTH = 6
TICKING_STATUSES = frozenset({"running", "awaiting_answer"})


def status_content(status: str) -> Content:
    """The status as a coloured glyph and word, e.g. "✓ completed"."""
    glyph, style = STATUS_STYLES.get(status, ("·", ""))
    return Content.assemble((glyph, style), " ", (status.replace("_", " "), style))


def task_line(record: TaskRecord) -> Content:
    """One compact line: glyph, elapsed time, description (the list ellipsises what does not fit)."""
    glyph, style = STATUS_STYLES.get(record.status, ("·", ""))
    elapsed = elapsed_text(record.elapsed_seconds) if record.started_at else ""
    return Content.assemble((glyph, style), " ", (elapsed.rjust(ELAPSED_WIDTH), "$text-muted"), " ",
                            record.description.splitlines()[0])


class TasksPanel(OptionList):
    """Background tasks, newest first; Enter opens one, `c` cancels it."""

    DEFAULT_CSS = """
    TasksPanel {
        max-height: 10;
        padding: 0;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Open", id="tasks-open"),
        Binding("c", "cancel_task", "Cancel task", id="tasks-cancel"),
    ]

    def __init__(self, runtime: Runtime, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.runtime = runtime
        self._records: dict[str, TaskRecord] = {}
        self._order: list[str] = []
        self._ticker: Timer | None = None
        self.listed = False
        """Whether the records were read (in a thread: there may be hundreds)."""

    def on_mount(self) -> None:
        # Only elapsed times move on their own; the timer runs while a task does.
        self._ticker = self.set_interval(1.0, self._tick, pause=True)
        self.set_options([Option(Content.styled("Reading tasks…", "$text-muted"), disabled=True)])
        follow(self, events=self._task_event, files=self._files_changed)
        run_blocking(self, self.runtime.tasks.list, self._listed, what="Listing background tasks", group="tasks-list")

    def _listed(self, records: list[TaskRecord]) -> None:
        # Records re-read since the list was taken (events meanwhile) are newer than the list's.
        self._records = {record.id: record for record in records} | self._records
        self.listed = True
        self._rebuild()

    # ----- keeping current -----------------------------------------------------------------------

    def _task_event(self, event: Event) -> None:
        """Re-read only the record an event names."""
        if isinstance(event, TASK_EVENTS):
            self._reload({event.task_id})

    def _files_changed(self, changed: frozenset[Path]) -> None:
        tasks_dir = self.runtime.paths.tasks_dir
        ids = {path.stem for path in changed if path.parent == tasks_dir and path.suffix == ".json"}
        if ids:
            self._reload(ids)

    def _reload(self, task_ids: set[str]) -> None:
        for task_id in task_ids:
            before = self._records.get(task_id)
            try:
                record = self._records[task_id] = self.runtime.tasks.get(task_id)
            except TaskError:
                self._records.pop(task_id, None)
                continue
            if self.listed and before is not None and not before.finished and record.finished:
                announce_finished(self, record)
        if not self.listed:
            return  # drawn once the list is read
        order = self._sorted_ids()
        if order != self._order:
            self._rebuild()
            return
        for task_id in task_ids & set(order):
            self.replace_option_prompt(task_id, task_line(self._records[task_id]))
        self._update_title()

    def _sorted_ids(self) -> list[str]:
        newest_first = sorted(self._records.values(), key=lambda record: (record.created_at, record.id), reverse=True)
        return [record.id for record in newest_first]

    def _rebuild(self) -> None:
        """Replace every option, keeping the highlight on the same task."""
        highlighted = self.highlighted_task_id
        self._order = self._sorted_ids()
        if self._order:
            self.set_options(Option(task_line(self._records[task_id]), id=task_id) for task_id in self._order)
        else:
            self.set_options([Option(Content.styled("No background tasks", "$text-muted"), disabled=True)])
        if highlighted in self._order:
            self.highlighted = self._order.index(highlighted)
        elif self._order:
            self.highlighted = 0
        self._update_title()

    def _update_title(self) -> None:
        statuses = [record.status for record in self._records.values()]
        running = sum(status in TICKING_STATUSES for status in statuses)
        queued = statuses.count("queued")
        counts = [f"{running} running"] if running else []
        counts += [f"{queued} queued"] if queued else []
        self.border_title = " · ".join(["Tasks", *counts])
        if self._ticker is not None and running:
            self._ticker.resume()
        elif self._ticker is not None:
            self._ticker.pause()

    def _tick(self) -> None:
        """Move the elapsed time of running tasks on, from the records already held (no disk reads)."""
        for task_id in self._order:
            record = self._records[task_id]
            if record.status in TICKING_STATUSES:
                self.replace_option_prompt(task_id, task_line(record))

    # ----- actions -------------------------------------------------------------------------------

    @property
    def highlighted_task_id(self) -> str | None:
        option = self.highlighted_option
        return option.id if option is not None else None

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        message.stop()
        if message.option.id is not None:
            self.post_message(OpenTask(message.option.id))

    def action_cancel_task(self) -> None:
        task_id = self.highlighted_task_id
        if task_id is None:
            self.notify("No task is highlighted.", severity="warning", timeout=3)
            return
        cancel_task(self, self.runtime, task_id)


FAILED_STATUSES = frozenset({"failed", "timed_out", "interrupted"})


def announce_finished(widget: Widget, record: TaskRecord) -> None:
    """A toast for a task that just ended, with how many files it changed. A schedule's run toasts only when it
    failed (a 30-minute schedule would toast 48 times a day); a routine run of the loop that completed without
    touching a file is left to the conversation's notice."""
    if record.origin == "schedule" and record.status not in FAILED_STATUSES:
        return
    if record.origin == LOOP_ORIGIN and record.status == "completed" and not record.files_changed:
        return
    count = record.files_changed
    files = f"{count} file{'' if count == 1 else 's'} changed" if count else "no files changed"
    status = record.status.replace("_", " ")
    severity = "information" if record.status in ("completed", "cancelled") else "warning"
    widget.notify(f"Task {record.id} {status} · {files}\n{record.description.splitlines()[0]}",
                  title="Background task finished", severity=severity, timeout=8, markup=False)


def cancel_task(widget: Widget, runtime: Runtime, task_id: str) -> None:
    """Ask, then cancel a task (its record is fsynced: in a thread) and say what happened; the panel and the detail
    view both cancel this way."""
    try:
        record = runtime.tasks.get(task_id)
    except TaskError as error:
        widget.notify(str(error), title="Cannot cancel", severity="warning", timeout=4, markup=False)
        return
    if record.finished:
        widget.notify(f"{task_id} already {record.status.replace('_', ' ')}.", timeout=3)
        return

    def said(cancelled: TaskRecord) -> None:
        if cancelled.status == "cancelled":
            widget.notify(f"Cancelled {task_id} before it started.", timeout=3)
        elif cancelled.finished:
            widget.notify(f"{task_id} already {cancelled.status.replace('_', ' ')}.", timeout=3)
        else:
            widget.notify(f"Cancelling {task_id}: its agent is being stopped.", timeout=3)

    stops = "It has not started; it never will." if record.status == "queued" else (
        "Its agent is stopped now; what it did so far (its log, the files it changed) stays.")
    widget.app.push_screen(ConfirmDialog(f"Cancel task {task_id}?", f"{record.description.splitlines()[0]}\n{stops}",
                                         "Cancel task", partial(runtime.tasks.cancel, task_id), done=said,
                                         keep_label="Keep it"))
