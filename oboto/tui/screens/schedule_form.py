"""Create or edit a schedule, with the service's own validation shown under each field as the person types."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Footer, Input, Label, Static, TextArea

from oboto.core.durations import DurationError, format_duration, parse_duration
from oboto.services.runtime import Runtime
from oboto.services.schedule_models import (
    MIN_INTERVAL_SECONDS,
    Schedule,
    ScheduleError,
    check_interval,
    optional_text,
    validated_schedule,
)
from oboto.tui.screens.dialog import Dialog
from oboto.tui.workers import run_blocking, running

SAVE_GROUP = "schedule-save"

# Valid stand-ins for the other fields, so one field can be checked alone by the schedule model itself.
_VALID_REST: dict[str, Any] = {"name": "-", "query": "-", "interval_seconds": MIN_INTERVAL_SECONDS}
# Each checked field, the widget a person fixes it in, and the widgets whose changes re-check it.
FIELD_WIDGETS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "query": ("query",),
    "cadence": ("interval", "cron"),
    "max-runs": ("max-runs",),
}


class ScheduleFormScreen(Dialog[Schedule | None]):
    """A new schedule (`schedule_id` None) or an existing one's fields; returns the saved schedule or None."""

    CSS_PATH = "schedule_form.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="schedule-form-save", priority=True),
        Binding("escape", "cancel", "Cancel", id="schedule-form-cancel"),
    ]

    def __init__(self, runtime: Runtime, schedule_id: str | None = None) -> None:
        super().__init__()
        self.runtime = runtime
        self.schedule_id = schedule_id
        self.tried_save = False
        """After the first save attempt every problem shows, empty required fields included."""

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            with Horizontal(classes="row"):
                yield Label("Name", classes="label")
                yield Input(id="name", placeholder="nightly tests", compact=True)
            yield Static(id="name-error", classes="error", markup=False)
            with Horizontal(classes="row"):
                yield Label("Query", classes="label")
                yield TextArea(id="query", compact=True, show_line_numbers=False, highlight_cursor_line=False)
            yield Static(id="query-error", classes="error", markup=False)
            with Horizontal(classes="row"):
                yield Label("Description", classes="label")
                yield Input(id="description", placeholder="optional", compact=True)
            with Horizontal(classes="row"):
                yield Label("Every", classes="label")
                yield Input(id="interval", placeholder="30m, 90s, 2h", compact=True)
                yield Label("or cron", classes="or")
                yield Input(id="cron", placeholder="*/5 * * * *", compact=True)
            yield Static(id="cadence-error", classes="error", markup=False)
            with Horizontal(classes="row"):
                yield Label("Max runs", classes="label")
                yield Input(id="max-runs", placeholder="unlimited", compact=True)
                yield Checkbox("Skip if still running", True, id="skip", compact=True)
            yield Static(id="max-runs-error", classes="error", markup=False)
            yield Static(id="form-error", classes="error", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        form = self.query_one("#form")
        form.border_title = "New schedule"
        form.border_subtitle = "ctrl+s save · esc cancel"
        if self.schedule_id is not None:
            try:
                schedule = self.runtime.scheduler.get(self.schedule_id)
            except ScheduleError as error:
                self.notify(str(error), title="Cannot edit", severity="error")
                self.dismiss(None)
                return
            form.border_title = f"Edit schedule {schedule.id}"
            self._fill(schedule)
        self.query_one("#name", Input).focus()

    def _fill(self, schedule: Schedule) -> None:
        self.query_one("#name", Input).value = schedule.name
        self.query_one("#query", TextArea).text = schedule.query
        self.query_one("#description", Input).value = schedule.description or ""
        interval = schedule.interval_seconds
        self.query_one("#interval", Input).value = format_duration(interval) if interval is not None else ""
        self.query_one("#cron", Input).value = schedule.cron or ""
        self.query_one("#max-runs", Input).value = str(schedule.max_runs) if schedule.max_runs else ""
        self.query_one("#skip", Checkbox).value = schedule.skip_if_running

    # ----- reading the fields --------------------------------------------------------------------

    def _text(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    @property
    def _query(self) -> str:
        return self.query_one("#query", TextArea).text

    def _interval_seconds(self) -> float | None:
        """The interval field in seconds (None when blank); DurationError or ScheduleError when it is not valid."""
        text = self._text("interval")
        return check_interval(parse_duration(text)) if text else None

    def _max_runs(self) -> int | str | None:
        """A whole number when it is one; otherwise the text, for the model to refuse with its own message."""
        text = self._text("max-runs")
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            return text

    # ----- validation (the schedule model's own rules) -------------------------------------------

    @staticmethod
    def _model_problem(**fields: Any) -> str | None:
        try:
            validated_schedule({**_VALID_REST, **fields})
        except ScheduleError as error:
            return str(error)
        return None

    def _problem(self, field: str) -> str | None:
        """What is wrong with one field as it stands, in the service's words (None when it is fine)."""
        if field == "name":
            return self._model_problem(name=self._text("name"))
        if field == "query":
            return self._model_problem(query=self._query)
        if field == "max-runs":
            return self._model_problem(max_runs=self._max_runs())
        problems = []
        try:
            interval = self._interval_seconds()
        except (DurationError, ScheduleError) as error:
            interval = None
            problems.append(str(error))
        cron = self._text("cron") or None
        if cron is not None and (cron_problem := self._model_problem(interval_seconds=None, cron=cron)):
            problems.append(cron_problem)
        if not problems and (pair := self._model_problem(interval_seconds=interval, cron=cron)):
            problems.append(pair)  # neither or both given
        return "\n".join(problems) or None

    def _has_input(self, field: str) -> bool:
        if field == "query":
            return bool(self._query.strip())
        return any(self._text(widget_id) for widget_id in FIELD_WIDGETS[field])

    def _show(self, field: str, problem: str | None) -> None:
        error = self.query_one(f"#{field}-error", Static)
        error.update(problem or "")
        error.set_class(bool(problem), "-shown")

    def _check(self, field: str) -> str | None:
        """Show (or clear) one field's problem; blank fields are only flagged once a save was tried."""
        problem = self._problem(field)
        self._show(field, problem if self.tried_save or self._has_input(field) else None)
        return problem

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        for field, widget_ids in FIELD_WIDGETS.items():
            if event.input.id in widget_ids:
                self._check(field)
        self._show("form", None)

    @on(TextArea.Changed)
    def _query_changed(self) -> None:
        self._check("query")
        self._show("form", None)

    @on(Input.Submitted)
    def _next_field(self) -> None:
        """Enter moves on, as in a paper form; ctrl+s saves from anywhere."""
        self.focus_next()

    # ----- saving --------------------------------------------------------------------------------

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        if running(self, SAVE_GROUP):
            return  # the save on its way decides
        self.tried_save = True
        problems = {field: self._check(field) for field in FIELD_WIDGETS}
        first_bad = next((field for field, problem in problems.items() if problem), None)
        if first_bad is not None:
            self._focus_field(first_bad)
            return
        name, query = self._text("name"), self._query
        fields: dict[str, Any] = dict(
            description=optional_text(self._text("description")), interval_seconds=self._interval_seconds(),
            cron=self._text("cron") or None, max_runs=self._max_runs(),
            skip_if_running=self.query_one("#skip", Checkbox).value,
        )
        scheduler, schedule_id = self.runtime.scheduler, self.schedule_id

        def save() -> Schedule:
            if schedule_id is None:
                return scheduler.create(name, query, **fields)
            return scheduler.update(schedule_id, name=name, query=query, **fields)

        run_blocking(self, save, self._saved, what="Schedule not saved", group=SAVE_GROUP,
                     refused=lambda error: self._show("form", str(error)))

    def _saved(self, schedule: Schedule) -> None:
        self.dismiss(schedule)

    def _focus_field(self, field: str) -> None:
        target = FIELD_WIDGETS[field][0]
        if field == "cadence" and self._text("cron") and not self._text("interval"):
            target = "cron"  # only the cron was given, so that is what needs fixing
        self.query_one(f"#{target}", Widget).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
