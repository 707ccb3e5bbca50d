"""What tools need of the services, as small Protocols the agent layer owns and the services satisfy.

A tool sees only these (as pydantic-ai's `RunContext[Deps]` hands a tool its deps), never the application: the
composition root (`services.runtime`) fills `ToolDeps` with its services, and they fit these Protocols by
their shape alone. A tool names what it `requires`; where a context lacks it, the registry neither offers nor
runs that tool (see `Tool.unavailable_reason`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, runtime_checkable

from oboto.core.events import Event

if TYPE_CHECKING:
    from oboto.agent.tools.base import ToolContext

S = TypeVar("S")


# ----- what tools read of the services' records --------------------------------------------------


class TaskView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def finished(self) -> bool: ...
    @property
    def elapsed_seconds(self) -> float | None: ...
    @property
    def iterations(self) -> int: ...
    @property
    def tool_calls(self) -> int: ...
    @property
    def result(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    def summary_line(self) -> str: ...


class TaskOutputView(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def offset(self) -> int: ...
    @property
    def size(self) -> int: ...


class ScheduleView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def tags(self) -> Sequence[str]: ...
    @property
    def paused_reason(self) -> str | None: ...
    @property
    def last_result(self) -> str | None: ...
    def summary_line(self) -> str: ...


class TriggerView(Protocol):
    @property
    def task_id(self) -> str | None: ...
    @property
    def skipped_reason(self) -> str | None: ...


class MemoryView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def times(self) -> int: ...
    def line(self) -> str: ...


class RecalledView(Protocol):
    @property
    def record(self) -> MemoryView: ...
    @property
    def score(self) -> float: ...


class ConversationView(Protocol):
    @property
    def parent(self) -> str | None: ...


class AgentAnswerView(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def error(self) -> str | None: ...


class LoopView(Protocol):
    @property
    def goals(self) -> Sequence[str]: ...


# ----- the services, as far as tools use them -------------------------------------------------


@runtime_checkable
class Tasks(Protocol):
    """Background tasks (the TaskManager)."""

    def spawn(self, description: str, query: str, *, context: str | None = None, conversation: str = "chat",
              origin: str = "user", parent_task_id: str | None = None, depth: int = 1, read_only: bool = False,
              guarded: bool = False, agent: str | None = None, model: str | None = None) -> TaskView: ...
    def continue_task(self, task_id: str, prompt: str) -> TaskView: ...
    def runner_active(self) -> bool: ...
    def get(self, task_id: str) -> TaskView: ...
    def list(self, status: str | None = None) -> Sequence[TaskView]: ...
    def cancel(self, task_id: str, *, reason: str | None = None) -> TaskView: ...
    def cancel_all(self, *, reason: str | None = None) -> Sequence[TaskView]: ...
    def output(self, task_id: str, *, tail: int | None = None, offset: int | None = None) -> TaskOutputView: ...
    async def wait(self, task_id: str, timeout: float) -> TaskView: ...


@runtime_checkable
class Schedules(Protocol):
    """Recurring tasks (the SchedulerService)."""

    def create(self, name: str, query: str, *, description: str | None = None, interval_seconds: float | None = None,
               cron: str | None = None, max_runs: int | None = None, skip_if_running: bool = True,
               tags: Sequence[str] = (), agent: str | None = None) -> ScheduleView: ...
    def list(self) -> Sequence[ScheduleView]: ...
    def pause(self, schedule_id: str) -> ScheduleView: ...
    def resume(self, schedule_id: str) -> ScheduleView: ...
    def delete(self, schedule_id: str) -> ScheduleView: ...
    def trigger_now(self, schedule_id: str) -> TriggerView: ...


@runtime_checkable
class Memory(Protocol):
    """The workspace's shared memory (the MemoryStore); every call blocks, so tools run it in a thread."""

    def remember(self, text: str, *, kind: str = "note", tags: Sequence[str] = (),
                 source: str | None = None) -> MemoryView: ...
    def recall(self, query: str, *, k: int = 5, kind: str | None = None) -> Sequence[RecalledView]: ...
    def forget(self, memory_id: str) -> MemoryView: ...


@runtime_checkable
class Questions(Protocol):
    """Blocking questions to the person (the QuestionBroker)."""

    async def ask(self, question: str, *, task_id: str | None = None, origin: str = "agent") -> str: ...


@runtime_checkable
class Conversations(Protocol):
    """Named conversations (the ConversationManager)."""

    def info(self, name: str) -> ConversationView: ...
    def report_to_parent(self, child: str, summary: str, status: str, key_findings: list[str]) -> object: ...


@runtime_checkable
class Agents(Protocol):
    """Sub-agents that answer within the caller's turn (`call_agent`)."""

    async def call(self, agent: str, prompt: str, *, caller: "ToolContext",
                   timeout_seconds: float | None = None) -> AgentAnswerView: ...


@runtime_checkable
class Loop(Protocol):
    """The autonomous agent loop (the AgentLoopController), as far as its goals go."""

    def set_goals(self, goals: list[str]) -> LoopView: ...
    def add_goal(self, goal: str) -> LoopView: ...


@runtime_checkable
class Events(Protocol):
    """The workspace's event bus, for a tool with something to tell the person (run_command: no sandbox here)."""

    def publish(self, event: Event) -> None: ...


@dataclass(frozen=True)
class ToolDeps:
    """The services one context offers its tools; None where it has none (a bare context in a test, say)."""

    tasks: Tasks | None = None
    schedules: Schedules | None = None
    memory: Memory | None = None
    questions: Questions | None = None
    conversations: Conversations | None = None
    events: Events | None = None
    agents: Agents | None = None
    loop: Loop | None = None


@dataclass(frozen=True)
class Requirement(Generic[S]):
    """One service a tool may require: what it is called for people, and where `ToolDeps` keeps it."""

    title: str
    pick: Callable[[ToolDeps], S | None]


TASKS = Requirement[Tasks]("background tasks", lambda deps: deps.tasks)
SCHEDULES = Requirement[Schedules]("recurring tasks", lambda deps: deps.schedules)
MEMORY = Requirement[Memory]("workspace memory", lambda deps: deps.memory)
QUESTIONS = Requirement[Questions]("questions to the person", lambda deps: deps.questions)
CONVERSATIONS = Requirement[Conversations]("conversations", lambda deps: deps.conversations)
AGENTS = Requirement[Agents]("sub-agents", lambda deps: deps.agents)
LOOP = Requirement[Loop]("the agent loop", lambda deps: deps.loop)
