"""The sidebar's agent-loop controls: state, interval, runs and the next tick; play/pause/stop, interval, goals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Static

from oboto.core.durations import DurationError, format_duration, parse_duration
from oboto.core.events import Event, LoopStateChanged, LoopTicked, LoopTickSkipped, TaskFinished
from oboto.core.models import utc_now
from oboto.services.agent_loop import LOOP_ORIGIN
from oboto.services.loop_models import LoopState
from oboto.services.runtime import Runtime
from oboto.services.task_log import elapsed_text
from oboto.tui.live import follow
from oboto.tui.screens.agent_dialogs import LoopGoalsDialog
from oboto.tui.workers import run_blocking

LOOP_EVENTS = (LoopStateChanged, LoopTicked, LoopTickSkipped)
CHANGE_GROUP = "loop-change"
STATE_STYLES: dict[str, tuple[str, str]] = {
    "playing": ("▶", "$success"),
    "paused": ("⏸", "$warning"),
    "stopped": ("■", "$text-muted"),
}


def interval_seconds(text: str) -> float:
    """Seconds from "90" or "5m"; the controller judges the number (LoopError), a bad duration is a DurationError."""
    try:
        return float(text)
    except ValueError:
        return parse_duration(text)


def countdown_text(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "-"
    seconds = (moment - (now or utc_now())).total_seconds()
    if seconds <= 0:
        return "due now"
    return f"in {int(seconds)}s" if seconds < 60 else f"in {elapsed_text(seconds)}"


def loop_status_text(state: LoopState, now: datetime | None = None) -> Content:
    """The state and interval; the run count and what comes next; why it is paused."""
    glyph, style = STATE_STYLES[state.state]
    runs = f"{state.invocation_count} run{'' if state.invocation_count == 1 else 's'}"
    lines = [Content.assemble((f"{glyph} {state.state}", f"bold {style}"),
                              f" · every {format_duration(state.interval_seconds)}")]
    if state.current_task_id:
        lines.append(Content(f"{runs} · working ({state.current_task_id})"))
    elif state.state == "playing":
        lines.append(Content(f"{runs} · next tick {countdown_text(state.next_tick_at, now)}"))
    else:
        lines.append(Content(runs))
    if state.state == "paused" and state.paused_reason:
        lines.append(Content.styled(state.paused_reason, "$warning"))
    return Content("\n").join(lines)


class IntervalInput(Input):
    """The inline interval editor; Esc gives up."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "give_up", "Cancel", id="loop-interval-cancel"),
    ]

    class Cancelled(Message):
        """The person left the interval editor without setting anything."""

    def action_give_up(self) -> None:
        self.post_message(self.Cancelled())


class LoopPanel(Vertical, can_focus=True):
    """The autonomous loop: `space` play/pause, `s` stop, `i` interval (also callable from the palette)."""

    DEFAULT_CSS = """
    LoopPanel {
        padding: 0 1;
        #loop-interval-input {
            display: none;
            margin-top: 1;
        }
        &.-editing #loop-interval-input {
            display: block;
        }
        #loop-interval-error {
            display: none;
            color: $error;
        }
        #loop-interval-error.-shown {
            display: block;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_play", "Play/pause", id="loop-toggle"),
        Binding("s", "loop_stop", "Stop loop", id="loop-stop"),
        Binding("i", "edit_interval", "Interval", id="loop-interval"),
        Binding("g", "edit_goals", "Goals", id="loop-goals", show=False),
    ]

    def __init__(self, runtime: Runtime, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.runtime = runtime
        self.loop_state = runtime.agent_loop.status()
        self._ticker: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="loop-status")
        yield IntervalInput(id="loop-interval-input", placeholder="seconds, or 90s, 5m, 1h", compact=True)
        yield Static(id="loop-interval-error", markup=False)

    def on_mount(self) -> None:
        self.border_title = "Agent loop"
        # Only the countdown moves on its own; the timer runs while the loop plays.
        self._ticker = self.set_interval(1.0, self._show, pause=True)
        self._show()
        follow(self, events=self._loop_event, files=self._files_changed)

    # ----- keeping current -----------------------------------------------------------------------

    def _loop_event(self, event: Event) -> None:
        loop_run_ended = isinstance(event, TaskFinished) and event.origin == LOOP_ORIGIN
        if isinstance(event, LOOP_EVENTS) or loop_run_ended:
            self.reload()

    def _files_changed(self, changed: frozenset[Path]) -> None:
        if self.runtime.paths.agent_loop in changed:
            self.reload()

    def reload(self) -> None:
        self.loop_state = self.runtime.agent_loop.status()
        self._show()

    def _show(self) -> None:
        for status in self.query("#loop-status").results(Static):  # none yet before the panel composed
            status.update(loop_status_text(self.loop_state))
        if self._ticker is not None and self.loop_state.state == "playing":
            self._ticker.resume()
        elif self._ticker is not None:
            self._ticker.pause()

    def _changed(self, state: LoopState, message: str) -> None:
        self.loop_state = state
        self._show()
        self.notify(message, title="Agent loop", timeout=3)

    # ----- actions (the command palette calls the loop_* ones too) ------------------------------

    def action_toggle_play(self) -> None:
        if self.runtime.agent_loop.status().state == "playing":
            self.action_loop_pause()
        else:
            self.action_loop_play()

    def action_loop_play(self) -> None:
        """Play a stopped loop (the first tick comes at once) or resume a paused one."""
        loop = self.runtime.agent_loop

        def play() -> tuple[LoopState, str]:
            resuming = loop.status().state == "paused"
            state = loop.resume() if resuming else loop.play()
            every = format_duration(state.interval_seconds)
            return state, f"{'Resumed' if resuming else 'Playing'}: a run every {every}."

        self._change(play)

    def action_loop_pause(self) -> None:
        self._change(lambda: (self.runtime.agent_loop.pause(), "Paused; a run already working goes on."))

    def action_loop_stop(self) -> None:
        self._change(lambda: (self.runtime.agent_loop.stop(), "Stopped; no more runs until you play it."))

    def _change(self, change: Callable[[], tuple[LoopState, str]]) -> None:
        """Change the loop's state (its file is fsynced: in a thread), then show it and say what happened."""
        run_blocking(self, change, lambda outcome: self._changed(*outcome), what="Agent loop", group=CHANGE_GROUP,
                     refused=lambda error: self.notify(str(error), title="Agent loop", severity="warning", timeout=5))

    def action_edit_goals(self) -> None:
        """Edit what the loop works towards (its briefing recalls memories for the goals)."""

        def saved(state: LoopState | None) -> None:
            if state is not None:
                count = len(state.goals)
                self._changed(state, f"{count} goal{'' if count == 1 else 's'} set." if count else "Goals cleared.")

        self.app.push_screen(LoopGoalsDialog(list(self.runtime.agent_loop.status().goals),
                                             self.runtime.agent_loop.set_goals), saved)

    def action_edit_interval(self) -> None:
        field = self.query_one(IntervalInput)
        field.value = format_duration(self.loop_state.interval_seconds)
        self.add_class("-editing")
        field.focus()

    @on(Input.Submitted, "#loop-interval-input")
    def _set_interval(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            seconds = interval_seconds(event.value.strip())
        except DurationError as error:
            self._show_error(str(error))
            return
        run_blocking(self, partial(self.runtime.agent_loop.set_interval, seconds), self._interval_set,
                     what="Agent loop", group=CHANGE_GROUP, refused=lambda error: self._show_error(str(error)))

    def _interval_set(self, state: LoopState) -> None:
        self._close_editor()
        self._changed(state, f"Interval set: a run every {format_duration(state.interval_seconds)}.")

    @on(IntervalInput.Cancelled)
    def _close_editor(self) -> None:
        self._show_error(None)
        self.remove_class("-editing")
        self.focus()

    def _show_error(self, problem: str | None) -> None:
        error = self.query_one("#loop-interval-error", Static)
        error.update(problem or "")
        error.set_class(bool(problem), "-shown")
