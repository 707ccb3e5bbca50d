"""The two lines above the footer: what the agent is doing now (or how the last turn went), and the mode, the
conversation with what it has cost in all, and the model its turns use (`/model` changes it).

The working indicator runs from the person's Enter to the end of the turn (or of a slash command such as
/compact), with the phase the services' events tell (waiting for another turn, compacting context, waiting
for the model, writing, running a tool, waiting for an approval); nothing is guessed from text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static

from oboto.core.events import (
    ContextCompacted,
    ContextCompacting,
    ConversationModelChanged,
    Event,
    ModelChosen,
    PermissionModeChanged,
    ReplyRetryScheduled,
    ReplyStarted,
    ReplyTextAppended,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
    TurnWaiting,
)
from oboto.services.runtime import Runtime
from oboto.tui.live import follow
from oboto.tui.workers import run_blocking

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
TICK_SECONDS = 0.1
OUTCOME_WORDS = {
    "completed": ("✓", "answered in", "$text-success"),
    "cancelled": ("■", "cancelled after", "$text-warning"),
    "done": ("✓", "done in", "$text-success"),
}
FACTS_GROUP = "status-facts"


def cost_words(tokens: int, cost_usd: float) -> str:
    """"1,234 tokens, $0.0004": what a model call or a turn used (a local model's calls cost $0)."""
    if cost_usd <= 0:
        cost = "$0"
    elif cost_usd < 0.0001:
        cost = "under $0.0001"
    else:
        cost = f"${cost_usd:.4f}" if cost_usd < 1 else f"${cost_usd:.2f}"
    return f"{tokens:,} token{'' if tokens == 1 else 's'}, {cost}"


def elapsed_words(seconds: float) -> str:
    """"3.2 s" under a minute, then "1 min 05 s"."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


@dataclass
class TurnActivity:
    """The person's turn as the status line shows it: when it began, what it does now, how it ended."""

    started: float
    phase: str = "preparing the turn"
    ended: float | None = None
    status: str | None = None
    """How the turn ended (completed, cancelled, failed, …); None while it runs."""
    error: str | None = None
    used: str | None = None
    """What the turn's model calls used, once the turn has reported it (TurnFinished)."""
    command: str | None = None
    """The slash command that runs (`/compact`) when this is not a turn of the model."""


@dataclass(frozen=True)
class ConversationFacts:
    """What the second line says about the conversation: the model its turns use and what it has cost."""

    model: str | None
    used: str | None
    """All the conversation's model calls, in tokens and dollars; None before any."""


def read_facts(runtime: Runtime, conversation: str) -> ConversationFacts:
    """The conversation's model and cost, read from its files (call it in a thread)."""
    model = runtime.conversation_model(conversation, runtime.conversation_profile(conversation))
    total = runtime.context.usage(conversation).total
    return ConversationFacts(model, cost_words(total.total_tokens, total.cost_usd) if total.total_tokens else None)


class StatusLine(Static):
    """Redrawn when the mode changes, the model is chosen, a conversation is shown, a turn moves on, and while
    one runs."""

    DEFAULT_CSS = """
    StatusLine {
        height: 2;
        padding: 0 1;
        color: $text-muted;
        background: $surface;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    clock: ClassVar[Callable[[], float]] = time.monotonic
    """Where elapsed times come from (snapshot tests pin it)."""

    def __init__(self, runtime: Runtime, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.runtime = runtime
        self.conversation = runtime.conversations.active
        self.turn: TurnActivity | None = None
        self.facts = ConversationFacts(runtime.model_choice.model, None)
        self._ticker: Timer | None = None

    def on_mount(self) -> None:
        self._ticker = self.set_interval(TICK_SECONDS, self.refresh_line, pause=True)
        follow(self, events=self._event)
        self.refresh_line()
        self.read_facts()

    def read_facts(self) -> None:
        """Read the shown conversation's model and cost again (in a thread: its messages are read)."""
        name = self.conversation
        run_blocking(self, partial(read_facts, self.runtime, name), partial(self._facts_read, name),
                     what="Reading the conversation's model and cost", group=FACTS_GROUP, exclusive=True)

    def _facts_read(self, name: str, facts: ConversationFacts) -> None:
        if name == self.conversation:
            self.facts = facts
            self.refresh_line()

    # ----- what happens ----------------------------------------------------------------------------

    def show_conversation(self, name: str) -> None:
        self.conversation = name
        self.turn = None
        self.refresh_line()
        self.read_facts()

    def turn_started(self, command: str | None = None) -> None:
        """The person pressed Enter on a message (or on the slash command `command`): the indicator runs from now."""
        self.turn = TurnActivity(started=type(self).clock(), phase=f"running {command}" if command else
                                 "preparing the turn", command=command)
        if self._ticker is not None:
            self._ticker.resume()
        self.refresh_line()

    def turn_ended(self, status: str, error: str | None = None) -> None:
        if self.turn is None:
            return
        self.turn.ended, self.turn.status, self.turn.error = type(self).clock(), status, error
        if self._ticker is not None:
            self._ticker.pause()
        self.refresh_line()

    def waiting_for_approval(self, tool: str) -> None:
        self._set_phase(f"waiting for your answer: allow {tool}?")

    def _event(self, event: Event) -> None:
        if isinstance(event, PermissionModeChanged):
            self.refresh_line()
            return
        if isinstance(event, ModelChosen):
            self.read_facts()  # local discovery settled which model this process's conversations use
            return
        if isinstance(event, ConversationModelChanged):
            if event.name == self.conversation:
                self.read_facts()
            return
        if getattr(event, "conversation", None) != self.conversation or getattr(event, "task_id", None):
            return
        if isinstance(event, ReplyStarted):
            self._set_phase("waiting for the model")
        elif isinstance(event, ReplyTextAppended):
            self._set_phase("writing")
        elif isinstance(event, ToolCallStarted):
            self._set_phase(f"running {event.tool}…")
        elif isinstance(event, ToolCallFinished):
            self._set_phase("waiting for the model")
        elif isinstance(event, ReplyRetryScheduled):
            self._set_phase(f"the model failed for a moment; retrying in {event.delay_seconds:.0f} s")
        elif isinstance(event, TurnWaiting):
            self._set_phase("waiting for another turn…")
        elif isinstance(event, ContextCompacting):
            self._set_phase("compacting context…")
        elif isinstance(event, ContextCompacted):
            self.read_facts()  # the summary's call cost something
        elif isinstance(event, TurnFinished):
            self.read_facts()
            if self.turn is not None and self.turn.command is None and event.status != "cancelled":
                # A cancelled turn reports no usage (its calls were cut off), which is not the same as none.
                self.turn.used = cost_words(event.total_tokens, event.cost_usd)
                self.refresh_line()

    def _set_phase(self, phase: str) -> None:
        if self.turn is not None and self.turn.status is None and self.turn.phase != phase:
            self.turn.phase = phase
            self.refresh_line()

    # ----- drawing ---------------------------------------------------------------------------------

    def refresh_line(self) -> None:
        mode = self.runtime.permission_mode
        conversation = Content(self.conversation)
        if self.facts.used:
            conversation += Content(f": {self.facts.used} in all")
        # The model goes last: at 80 columns a long name is what gets cut, never the mode or the cost.
        facts = Content(" · ").join([Content.styled(f"mode {mode} (ctrl+t)", "$text-error" if mode == "full" else ""),
                                     conversation, Content(self._model_words())])
        self.update(Content("\n").join([self._activity(), facts]))

    def _model_words(self) -> str:
        if self.facts.model:
            return self.facts.model
        return "looking for a local model…" if self.runtime.model_choice.discovery_pending else "no model"

    def _activity(self) -> Content:
        turn = self.turn
        if turn is None:
            return Content("ready · Enter sends · ctrl+f finds · F1 lists every key")
        if turn.status is None:
            elapsed = type(self).clock() - turn.started
            frame = SPINNER[int(elapsed / TICK_SECONDS) % len(SPINNER)]
            return Content.assemble((f"{frame} working {elapsed_words(elapsed)}", "bold $accent"),
                                    f" · {turn.phase}" + ("" if turn.command else " · Esc cancels"))
        glyph, words, style = OUTCOME_WORDS.get(turn.status, ("✗", "stopped after", "$text-error"))
        took = elapsed_words((turn.ended or turn.started) - turn.started)
        line = Content.assemble((f"{glyph} {turn.command + ' ' if turn.command else ''}{words} {took}", style))
        if turn.used:
            line += Content(f" · this turn {turn.used}")
        if turn.error and turn.status not in OUTCOME_WORDS:
            line += Content(f" · {turn.error}")
        return line
