"""The briefing packet the agent loop's agent wakes up to: a pure function of its inputs.

No I/O and no clock reads happen here; the services layer collects the inputs. The same inputs always
give the same Markdown, so the briefing is testable and diffable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from oboto.core.text import cut

CHAT_EXCHANGES = 3
CHAT_MESSAGE_CHARS = 300
OUTCOME_CHARS = 200
NAME_CHARS = 120
NONE_YET = "none yet"


@dataclass(frozen=True)
class ChatEntry:
    """One message of `chat`."""

    role: str
    content: str
    at: datetime
    author: str | None = None
    marker: str | None = None


@dataclass(frozen=True)
class ScheduleEntry:
    """One recurring task, as the loop should see it."""

    id: str
    name: str
    status: str
    interval_seconds: float | None = None
    cron: str | None = None
    last_run_at: datetime | None = None
    next_run_at: datetime | None = None
    run_count: int = 0
    last_result: str | None = None
    paused_reason: str | None = None


@dataclass(frozen=True)
class TaskEntry:
    """One background task, running or recently finished."""

    id: str
    description: str
    status: str
    origin: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outcome: str | None = None
    """The result of a completed task or the error of one that did not complete."""


@dataclass(frozen=True)
class QuestionEntry:
    """A blocking question asked earlier, answered or still open."""

    id: str
    question: str
    status: str
    answer: str | None = None
    answered_at: datetime | None = None


@dataclass(frozen=True)
class BriefingInputs:
    """Everything the briefing shows; `now` is the tick's time, never read from a clock here."""

    invocation: int
    now: datetime
    interval_seconds: float
    persona: str
    workspace: str
    foreground_busy: bool
    idle_seconds: float | None
    """Seconds since the person last did something; None when nothing was recorded."""
    chat: tuple[ChatEntry, ...] = ()
    """The tail of `chat`, oldest first; the briefing keeps the last three exchanges of it."""
    schedules: tuple[ScheduleEntry, ...] = ()
    running_tasks: tuple[TaskEntry, ...] = ()
    finished_tasks: tuple[TaskEntry, ...] = ()
    goals: tuple[str, ...] = ()
    memories: tuple[str, ...] = ()
    """The top memories recalled for the goals."""
    questions: tuple[QuestionEntry, ...] = ()
    agent_name: str = ""
    """The agent profile the loop runs as (`[loop] agent`), shown with its description above the persona."""
    agent_description: str = ""
    schedule_total: int | None = None
    """How many schedules exist; None when `schedules` is all of them. More than shown: the rest are counted."""
    schedule_states: tuple[tuple[str, int], ...] = ()
    """Schedules counted by status (shown when some are left out)."""
    task_states: tuple[tuple[str, int], ...] = ()
    """Every task counted by status."""
    running_total: int | None = None
    """How many tasks are queued or running; None when `running_tasks` is all of them."""
    failed_tasks: tuple[TaskEntry, ...] = ()
    """The latest tasks that did not complete, newest first (those not already in `finished_tasks`)."""


def build_briefing(inputs: BriefingInputs) -> str:
    """The briefing as Markdown, sections in a fixed order."""
    sections = [
        _header(inputs),
        _persona(inputs),
        _current_state(inputs),
        _chat(inputs),
        _schedules(inputs),
        _tasks(inputs),
        _memories(inputs),
        _questions(inputs),
        _directive(inputs),
        _guard(inputs),
    ]
    return "\n\n".join(sections) + "\n"


def last_exchanges(chat: tuple[ChatEntry, ...] | list[ChatEntry], count: int = CHAT_EXCHANGES) -> list[list[ChatEntry]]:
    """The last `count` exchanges: each starts at a person's message and runs to the next one.

    Tool results and empty messages (a reply that only called tools) are left out; notices posted before the
    first message of the person form an exchange of their own.
    """
    exchanges: list[list[ChatEntry]] = []
    for entry in chat:
        if entry.role == "tool" or not entry.content.strip():
            continue
        if entry.role == "user" or not exchanges:
            exchanges.append([entry])
        else:
            exchanges[-1].append(entry)
    return exchanges[-count:] if count > 0 else []


# ----- sections --------------------------------------------------------------------------------


def _section(title: str, lines: list[str]) -> str:
    return "\n".join([f"## {title}", "", *lines])


def _header(inputs: BriefingInputs) -> str:
    return "\n".join([
        f"# Agent loop briefing — invocation {inputs.invocation}",
        "",
        f"- Time: {_timestamp(inputs.now)}",
        f"- Interval: every {_duration(inputs.interval_seconds)}",
    ])


def _persona(inputs: BriefingInputs) -> str:
    lines = []
    if inputs.agent_name:
        about = f" — {inputs.agent_description}" if inputs.agent_description else ""
        lines += [f"- Agent: {inputs.agent_name}{about}", ""]
    return _section("Persona", [*lines, inputs.persona.strip() or "(no persona configured)"])


def _current_state(inputs: BriefingInputs) -> str:
    foreground = "busy (the person's own turn is running)" if inputs.foreground_busy else "idle"
    if inputs.idle_seconds is None:
        last_active = "no activity recorded yet"
    else:
        seconds = round(inputs.idle_seconds)
        last_active = f"{seconds} s ago" + (f" ({_duration(seconds)})" if seconds >= 90 else "")
    return _section("Current state", [
        f"- Workspace: {inputs.workspace}",
        f"- Foreground: {foreground}",
        f"- The person last did something: {last_active}",
    ])


def _chat(inputs: BriefingInputs) -> str:
    exchanges = last_exchanges(inputs.chat)
    title = f"Recent chat (last {CHAT_EXCHANGES} exchanges)"
    if not exchanges:
        return _section(title, ["No messages in chat yet."])
    lines: list[str] = []
    for number, exchange in enumerate(exchanges, start=1):
        if lines:
            lines.append("")
        lines.append(f"### Exchange {number}")
        lines.extend(f"- {_speaker(entry)} ({_clock(entry.at)}): {cut(entry.content, CHAT_MESSAGE_CHARS)}"
                     for entry in exchange)
    return _section(title, lines)


def _speaker(entry: ChatEntry) -> str:
    if entry.role == "user":
        return "person"
    if entry.role == "assistant":
        return "assistant"
    label = entry.marker or "notice"
    return f"{label} from {entry.author}" if entry.author else label


def _counts(states: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{count} {state}" for state, count in states)


def _schedules(inputs: BriefingInputs) -> str:
    if not inputs.schedules:
        return _section("Schedules", ["No recurring tasks."])
    lines = []
    total = inputs.schedule_total if inputs.schedule_total is not None else len(inputs.schedules)
    if total > len(inputs.schedules):
        lines += [f"{total} schedules ({_counts(inputs.schedule_states)}); shown: the {len(inputs.schedules)} that "
                  "failed last, ran most recently or are due soonest (list_recurring_tasks lists them all).", ""]
    for schedule in inputs.schedules:
        when = f'cron "{schedule.cron}"' if schedule.cron else (
            f"every {_duration(schedule.interval_seconds)}" if schedule.interval_seconds else "no timing")
        last = _relative(schedule.last_run_at, inputs.now) if schedule.last_run_at else "never"
        parts = [f"- {cut(schedule.name, NAME_CHARS)} ({schedule.id}): {schedule.status}, {when}; last run: {last}; "
                 f"runs: {schedule.run_count}"]
        if schedule.status == "active" and schedule.next_run_at:
            parts.append(f"; next run: {_relative(schedule.next_run_at, inputs.now)}")
        if schedule.paused_reason:
            parts.append(f"; paused because: {cut(schedule.paused_reason, OUTCOME_CHARS)}")
        if schedule.last_result:
            parts.append(f"; last result: {cut(schedule.last_result, OUTCOME_CHARS)}")
        lines.append("".join(parts))
    return _section("Schedules", lines)


def _tasks(inputs: BriefingInputs) -> str:
    running = [
        f"- {task.id} [{task.status}] {cut(task.description, NAME_CHARS)} ({task.origin}"
        + (f", started {_relative(task.started_at, inputs.now)})" if task.started_at else ")")
        for task in inputs.running_tasks
    ]
    left_out = (inputs.running_total or 0) - len(inputs.running_tasks)
    if left_out > 0:
        running.append(f"- and {left_out} more queued or running (list_background_tasks lists them)")
    counts = [f"All tasks: {_counts(inputs.task_states)}", ""] if inputs.task_states else []
    failed = ["", "### Recently failed", *_finished_lines(inputs.failed_tasks, inputs.now)] if inputs.failed_tasks else []
    return _section("Background tasks", [
        *counts, "### Running", *(running or ["none"]),
        "", "### Recently finished", *(_finished_lines(inputs.finished_tasks, inputs.now) or ["none"]), *failed,
    ])


def _finished_lines(tasks: tuple[TaskEntry, ...], now: datetime) -> list[str]:
    lines = []
    for task in tasks:
        line = f"- {task.id} [{task.status}] {cut(task.description, NAME_CHARS)} ({task.origin}"
        line += f", finished {_relative(task.finished_at, now)})" if task.finished_at else ")"
        if task.outcome:
            line += f" — {cut(task.outcome, OUTCOME_CHARS)}"
        lines.append(line)
    return lines


def _memories(inputs: BriefingInputs) -> str:
    goals = [f"- {goal}" for goal in inputs.goals] or ["No goals set."]
    memories = [f"- {cut(memory, CHAT_MESSAGE_CHARS)}" for memory in inputs.memories] or [NONE_YET]
    return _section("Memories for the current goals", ["Goals:", *goals, "", "Top memories:", *memories])


def _questions(inputs: BriefingInputs) -> str:
    lines = []
    for question in inputs.questions:
        if question.status == "answered":
            when = f" ({_relative(question.answered_at, inputs.now)})" if question.answered_at else ""
            lines.append(f"- {question.id}: {cut(question.question, CHAT_MESSAGE_CHARS)} → answered{when}: "
                         f"{cut(question.answer or '', CHAT_MESSAGE_CHARS)}")
        elif question.status == "open":
            lines.append(f"- {question.id}: {cut(question.question, CHAT_MESSAGE_CHARS)} → still waiting for an answer")
    return _section("Answers to earlier blocking questions", lines or ["none"])


def _directive(inputs: BriefingInputs) -> str:
    return _section("Directive", [
        f"You are the workspace's autonomous agent loop, woken for run {inputs.invocation}. Work in four steps:",
        "1. Observe: read this briefing; look at the workspace with your tools where it matters.",
        "2. Orient: what changed since the last run, what the person is working on, what is stuck or failing.",
        "3. Decide: choose the one or two most useful things to do now; doing nothing is fine when nothing needs it.",
        "4. Act: do them with your tools, then end with a short summary for the person (it is posted into chat).",
        "Call ask_blocking_question only when you are truly stuck and cannot go on without the person: "
        "it pauses the loop until they answer.",
    ])


def _guard(inputs: BriefingInputs) -> str:
    now = (
        "The foreground is busy right now: you have read-only tools. Observe and report; change nothing."
        if inputs.foreground_busy else
        "The foreground is idle right now: you may change things, but writing tools are withdrawn the moment "
        "the person starts a turn."
    )
    return _section("Guard", [
        "While the person's own chat turn is running, agents started by the loop get read-only tools "
        "(no writes, no shell). This is enforced, not only asked.",
        now,
    ])


# ----- time, always shown in UTC so the same inputs give the same text anywhere ------------------


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _timestamp(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def _relative(moment: datetime, now: datetime) -> str:
    seconds = (_utc(now) - _utc(moment)).total_seconds()
    if abs(seconds) < 1:
        return f"{_clock(moment)} (now)"
    direction = "ago" if seconds > 0 else "from now"
    return f"{_clock(moment)} ({_duration(abs(seconds))} {direction})"


def _duration(seconds: float) -> str:
    """A short human duration: 45 s, 3 min, 2 min 5 s, 2 h, 1.5 d."""
    whole = round(seconds)
    if whole < 90:
        return f"{whole} s"
    if whole < 90 * 60:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    if seconds < 36 * 3600:
        return f"{_trim(seconds / 3600)} h"
    return f"{_trim(seconds / 86400)} d"


def _trim(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
