"""The sidebar's recurring tasks: status, cadence, runs and next run; create, edit, pause, trigger, delete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import ClassVar, TypeVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from oboto.core.errors import RequestRefused
from oboto.core.events import Event, ScheduleChanged, ScheduleFired, ScheduleSkipped, TaskFinished
from oboto.core.models import utc_now
from oboto.services.runtime import Runtime
from oboto.services.schedule_models import Schedule
from oboto.services.scheduler import TriggerOutcome
from oboto.tui.live import follow
from oboto.tui.screens.confirm import ConfirmDialog
from oboto.tui.workers import run_blocking

SCHEDULE_EVENTS = (ScheduleChanged, ScheduleFired, ScheduleSkipped)
ACTION_GROUP = "schedule-action"
T = TypeVar("T")


def when_text(moment: datetime | None, now: datetime | None = None) -> str:
    """A due time for people, in local time: "14:05" today, "Tue 14:05" this week, else the date."""
    if moment is None:
        return "-"
    now = now or utc_now()
    if moment <= now:
        return "due now"
    local, local_now = moment.astimezone(), now.astimezone()
    if local.date() == local_now.date():
        return local.strftime("%H:%M:%S" if (moment - now).total_seconds() < 3600 else "%H:%M")
    if (local.date() - local_now.date()).days < 7:
        return local.strftime("%a %H:%M")
    return local.strftime("%Y-%m-%d")


def schedule_lines(schedule: Schedule) -> Content:
    """Three short lines (the sidebar is narrow): status and name; cadence and runs; next run or why paused."""
    active = schedule.status == "active"
    glyph = ("▶", "$success") if active else ("⏸", "$warning")
    runs = f"{schedule.run_count}/{schedule.max_runs}" if schedule.max_runs else str(schedule.run_count)
    counted = schedule.max_runs or schedule.run_count  # "1/5 runs" but "1 run"
    plural = "" if counted == 1 else "s"
    if active:
        status = Content.styled(f"  next {when_text(schedule.next_run_at)}", "$text-muted")
    else:
        status = Content.styled(f"  {schedule.paused_reason or 'paused'}", "$warning")
    return Content("\n").join([
        Content.assemble(glyph, " ", (schedule.name, "bold")),
        Content.styled(f"  {schedule.cadence} · {runs} run{plural}", "$text-muted"),
        status,
    ])


class SchedulesPanel(OptionList):
    """Recurring tasks; `n` new, `e`/Enter edit, `p` pause/resume, `t` trigger now, `d` delete (asked first)."""

    DEFAULT_CSS = """
    SchedulesPanel {
        max-height: 14;
        padding: 0;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_schedule", "New", id="schedules-new"),
        Binding("e", "edit_schedule", "Edit", id="schedules-edit", show=False),
        Binding("enter", "select", "Edit", id="schedules-open", show=False),
        Binding("p", "toggle_pause", "Pause/resume", id="schedules-pause"),
        Binding("t", "trigger_now", "Run now", id="schedules-trigger"),
        Binding("d", "delete_schedule", "Delete", id="schedules-delete"),
    ]

    def __init__(self, runtime: Runtime, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.runtime = runtime
        self._schedules: dict[str, Schedule] = {}

    def on_mount(self) -> None:
        self.border_title = "Schedules"
        follow(self, events=self._schedule_event, files=self._files_changed)
        self.reload()

    # ----- keeping current -----------------------------------------------------------------------

    def _schedule_event(self, event: Event) -> None:
        """Schedule events, or a scheduled run ending (its result is recorded)."""
        scheduled_run_ended = isinstance(event, TaskFinished) and event.schedule_id is not None
        if isinstance(event, SCHEDULE_EVENTS) or scheduled_run_ended:
            self.reload()

    def _files_changed(self, changed: frozenset[Path]) -> None:
        if self.runtime.paths.schedules in changed:
            self.reload()

    def reload(self) -> None:
        """Show the schedules as the service has them, keeping the highlight on the same one."""
        highlighted = self.highlighted_schedule_id
        self._schedules = {schedule.id: schedule for schedule in self.runtime.scheduler.list()}
        if self._schedules:
            self.set_options(Option(schedule_lines(schedule), id=schedule.id) for schedule in self._schedules.values())
        else:
            self.set_options([Option(Content.styled("No schedules · n creates one", "$text-muted"), disabled=True)])
        ids = list(self._schedules)
        if highlighted in ids:
            self.highlighted = ids.index(highlighted)
        elif ids:
            self.highlighted = 0
        active = sum(schedule.status == "active" for schedule in self._schedules.values())
        paused = len(self._schedules) - active
        counts = [f"{active} active"] if active else []
        counts += [f"{paused} paused"] if paused else []
        self.border_title = " · ".join(["Schedules", *counts])

    def select_schedule(self, schedule_id: str) -> None:
        """Highlight a schedule (e.g. the one just saved)."""
        ids = list(self._schedules)
        if schedule_id in ids:
            self.highlighted = ids.index(schedule_id)

    @property
    def highlighted_schedule_id(self) -> str | None:
        option = self.highlighted_option
        return option.id if option is not None else None

    def _highlighted(self) -> Schedule | None:
        schedule_id = self.highlighted_schedule_id
        if schedule_id is None:
            self.notify("No schedule is highlighted; n creates one.", severity="warning", timeout=3)
            return None
        return self._schedules.get(schedule_id)

    # ----- actions -------------------------------------------------------------------------------

    def action_new_schedule(self) -> None:
        self._open_form(None)

    def action_edit_schedule(self) -> None:
        if (schedule := self._highlighted()) is not None:
            self._open_form(schedule.id)

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        message.stop()
        if message.option.id is not None:
            self._open_form(message.option.id)

    def _open_form(self, schedule_id: str | None) -> None:
        from oboto.tui.screens.schedule_form import ScheduleFormScreen

        def saved(schedule: Schedule | None) -> None:
            if schedule is None:
                return
            self.reload()
            self.select_schedule(schedule.id)
            verb = "Updated" if schedule_id else "Created"
            self.notify(f"{verb} {schedule.name!r} ({schedule.cadence}); next run {when_text(schedule.next_run_at)}.",
                        title="Schedule saved", timeout=4)

        self.app.push_screen(ScheduleFormScreen(self.runtime, schedule_id), saved)

    def action_toggle_pause(self) -> None:
        if (schedule := self._highlighted()) is None:
            return
        scheduler = self.runtime.scheduler
        if schedule.status == "active":
            self._act(partial(scheduler.pause, schedule.id), "Schedule unchanged",
                      lambda updated: self.notify(f"Paused {updated.name!r}.", timeout=3))
        else:
            def resumed(updated: Schedule) -> None:
                self.notify(f"Resumed {updated.name!r}; next run {when_text(updated.next_run_at)}.", timeout=3)

            self._act(partial(scheduler.resume, schedule.id), "Schedule unchanged", resumed)

    def action_trigger_now(self) -> None:
        if (schedule := self._highlighted()) is None:
            return

        def triggered(outcome: TriggerOutcome) -> None:
            if outcome.task_id:
                self.notify(f"{schedule.name!r} started as task {outcome.task_id}.", timeout=4)
            elif outcome.skipped_reason:
                self.notify(f"{schedule.name!r} skipped: {outcome.skipped_reason}", severity="warning", timeout=8)
            else:
                self.notify(f"Asked the runner to start {schedule.name!r} now.", timeout=4)

        self._act(partial(self.runtime.scheduler.trigger_now, schedule.id), "Not triggered", triggered)

    def _act(self, action: Callable[[], T], refusal_title: str, done: Callable[[T], object]) -> None:
        """Run a schedule action in a thread (schedules.json is fsynced), then `done` and a redraw."""

        def finished(result: T) -> None:
            done(result)
            self.reload()

        def refused(error: RequestRefused) -> None:
            self.notify(str(error), title=refusal_title, severity="error", timeout=8)
            self.reload()

        run_blocking(self, action, finished, what=refusal_title, group=ACTION_GROUP, refused=refused)

    def action_delete_schedule(self) -> None:
        if (schedule := self._highlighted()) is None:
            return
        def deleted(_schedule: Schedule) -> None:
            self.notify(f"Deleted {schedule.name!r}.", timeout=3)
            self.reload()

        runs = f"{schedule.run_count} run{'' if schedule.run_count == 1 else 's'} so far"
        self.app.push_screen(ConfirmDialog(
            f"Delete schedule {schedule.name!r}?",
            f"{schedule.cadence}, {runs}. It will not run again; the tasks it already ran stay in the task list.",
            "Delete", partial(self.runtime.scheduler.delete, schedule.id), done=deleted, keep_label="Keep"))
