"""Every event oboto publishes: small typed records named as facts, one module."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from oboto.core.models import utc_now


class Event(BaseModel):
    """Base of all events; `kind` is the stable name written to `.oboto/events.jsonl`."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    kind: ClassVar[str] = "event"
    logged: ClassVar[bool] = True
    """False for events too frequent to log (streamed text): subscribers get them, events.jsonl does not."""
    at: datetime = Field(default_factory=utc_now)

    def to_record(self) -> dict[str, Any]:
        return {"type": self.kind, **self.model_dump(mode="json")}


class FileQuarantined(Event):
    """A workspace file failed to parse or validate and was moved aside."""

    kind: ClassVar[str] = "workspace:file-quarantined"
    path: str
    moved_to: str
    reason: str


class WorkspaceWarning(Event):
    """Something the person should know about that did not stop the app."""

    kind: ClassVar[str] = "workspace:warning"
    message: str


class ConversationCreated(Event):
    """A conversation was created."""

    kind: ClassVar[str] = "conversation:created"
    name: str
    parent: str | None = None


class ConversationRenamed(Event):
    """A conversation was renamed."""

    kind: ClassVar[str] = "conversation:renamed"
    old: str
    new: str


class ConversationDeleted(Event):
    """A conversation was deleted."""

    kind: ClassVar[str] = "conversation:deleted"
    name: str


class ConversationAgentChanged(Event):
    """A conversation's agent profile changed (None: the default agent)."""

    kind: ClassVar[str] = "conversation:agent"
    name: str
    agent: str | None = None


class ConversationModelChanged(Event):
    """A conversation's own model changed (`/model`; None: back to the agent's or the workspace's)."""

    kind: ClassVar[str] = "conversation:model"
    name: str
    model: str | None = None


class ContextCompacting(Event):
    """The model is summarising a conversation's older exchanges (automatically, or by /compact)."""

    kind: ClassVar[str] = "conversation:compacting"
    conversation: str
    messages: int


class ContextCompacted(Event):
    """A conversation's older exchanges were replaced, for the model, by the summary stored as `message_id`."""

    kind: ClassVar[str] = "conversation:compacted"
    conversation: str
    message_id: str
    messages: int
    tokens_before: int
    tokens_after: int


class ContextCleared(Event):
    """`/clear`: the model is given nothing from before this point of the conversation (its history is kept)."""

    kind: ClassVar[str] = "conversation:cleared"
    conversation: str
    message_id: str


class ConversationSwitched(Event):
    """The active conversation changed."""

    kind: ClassVar[str] = "conversation:switched"
    name: str


class MessageAppended(Event):
    """A complete message was persisted to a conversation."""

    kind: ClassVar[str] = "conversation:message"
    conversation: str
    message_id: str
    role: str
    marker: str | None = None


class ReplyStarted(Event):
    """An assistant reply began streaming into a conversation; `message_id` is the id it is stored under."""

    kind: ClassVar[str] = "conversation:reply-started"
    logged: ClassVar[bool] = False
    conversation: str
    message_id: str
    author: str | None = None


class ReplyTextAppended(Event):
    """The model streamed more text of a reply (in process only: the conversation file is the durable record)."""

    kind: ClassVar[str] = "conversation:reply-text"
    logged: ClassVar[bool] = False
    conversation: str
    message_id: str
    delta: str


class ReplyRestarted(Event):
    """The model call behind a reply is being retried: the text streamed so far is void."""

    kind: ClassVar[str] = "conversation:reply-restarted"
    logged: ClassVar[bool] = False
    conversation: str
    message_id: str


class ReplyRetryScheduled(Event):
    """The model call behind a reply failed for a moment and is retried after `delay_seconds`."""

    kind: ClassVar[str] = "conversation:reply-retry"
    conversation: str
    message_id: str
    attempt: int
    delay_seconds: float
    reason: str


class ReplyFinished(Event):
    """A streamed reply ended: stored `complete` or `interrupted`, or `discarded` (cut off before any text)."""

    kind: ClassVar[str] = "conversation:reply-finished"
    logged: ClassVar[bool] = False
    conversation: str
    message_id: str
    status: Literal["complete", "interrupted", "discarded"]


class ChildReported(Event):
    """A child conversation reported back to its parent."""

    kind: ClassVar[str] = "conversation:reported"
    child: str
    parent: str
    status: str
    summary: str


class TurnStarted(Event):
    """An agent turn began."""

    kind: ClassVar[str] = "agent:turn-started"
    conversation: str | None = None
    task_id: str | None = None


class PromptSubmitted(Event):
    """The person's prompt starts a turn; it is stored as `message_id` once it fits (a view may show it at once).

    Not logged (a prompt may be long); a turn that ends `refused` or `failed` before storing it never stores it.
    """

    kind: ClassVar[str] = "agent:prompt-submitted"
    logged: ClassVar[bool] = False
    conversation: str
    message_id: str
    text: str


class TurnWaiting(Event):
    """A turn waits because another turn (of this or another process) is running in the same conversation."""

    kind: ClassVar[str] = "agent:turn-waiting"
    conversation: str
    holder_pid: int | None = None


class TurnFinished(Event):
    """An agent turn ended (status says how)."""

    kind: ClassVar[str] = "agent:turn-finished"
    conversation: str | None = None
    task_id: str | None = None
    status: str
    iterations: int
    total_tokens: int
    cost_usd: float = 0.0
    error: str | None = None


class ToolCallStarted(Event):
    """A tool call of an agent turn began to run (the TUI's status line says which, while it runs)."""

    kind: ClassVar[str] = "agent:tool-started"
    logged: ClassVar[bool] = False
    conversation: str | None = None
    task_id: str | None = None
    tool: str


class ToolCallFinished(Event):
    """A tool call ran (or was refused) inside an agent turn."""

    kind: ClassVar[str] = "agent:tool-call"
    conversation: str | None = None
    task_id: str | None = None
    tool: str
    ok: bool
    duration_ms: float


class TaskQueued(Event):
    """A background task was recorded and waits for a slot."""

    kind: ClassVar[str] = "task:queued"
    task_id: str
    description: str
    origin: str
    agent: str | None = None
    follow_up: bool = False
    """True when a finished task was queued again with a follow-up (`continue_task`)."""


class TaskStarted(Event):
    """A background task's agent began."""

    kind: ClassVar[str] = "task:started"
    task_id: str
    read_only: bool = False


class TaskProgress(Event):
    """A background task's agent made a model call or a tool call: how far it has got."""

    kind: ClassVar[str] = "task:progress"
    task_id: str
    model_calls: int
    tool_calls: int
    total_tokens: int
    cost_usd: float = 0.0


class TaskOutput(Event):
    """A line was added to a background task's output log."""

    kind: ClassVar[str] = "task:output"
    task_id: str
    line: str


class AgentCallFinished(Event):
    """A sub-agent called with `call_agent` answered (or failed) within its caller's turn."""

    kind: ClassVar[str] = "agent:call-finished"
    agent: str
    status: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    caller_task_id: str | None = None
    conversation: str | None = None
    error: str | None = None


class TaskStatusChanged(Event):
    """A background task moved to another non-final state (e.g. awaiting_answer)."""

    kind: ClassVar[str] = "task:status"
    task_id: str
    status: str


class TaskFinished(Event):
    """A background task ended: completed, failed, cancelled, timed_out or interrupted."""

    kind: ClassVar[str] = "task:finished"
    task_id: str
    status: str
    error: str | None = None
    schedule_id: str | None = None
    origin: str = "user"
    agent: str | None = None
    ran: bool = False
    """Whether its agent ran this time (False: cancelled while queued, or found interrupted after a crash)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    """What this run cost (a continued task's earlier runs are not counted again)."""


class TaskCancelRequested(Event):
    """Someone asked for a task to be cancelled."""

    kind: ClassVar[str] = "task:cancel-requested"
    task_id: str


class TasksArchived(Event):
    """Finished task records older than the retention left the live set for the monthly archive."""

    kind: ClassVar[str] = "task:archived"
    count: int
    older_than: datetime


class ScheduleChanged(Event):
    """A schedule was created, edited, paused, resumed or deleted."""

    kind: ClassVar[str] = "schedule:changed"
    schedule_id: str
    change: str
    reason: str | None = None


class ScheduleFired(Event):
    """A schedule spawned its background task."""

    kind: ClassVar[str] = "schedule:fired"
    schedule_id: str
    task_id: str
    run_count: int
    manual: bool = False


class ScheduleSkipped(Event):
    """A schedule's tick was skipped; `reason` says why."""

    kind: ClassVar[str] = "schedule:skipped"
    schedule_id: str
    reason: str


class LoopStateChanged(Event):
    """The agent loop was played, paused, resumed, stopped or its interval changed."""

    kind: ClassVar[str] = "agent-loop:state"
    state: str
    interval_seconds: float
    reason: str | None = None
    invocation_count: int = 0
    open_questions: int = 0


class LoopTicked(Event):
    """The agent loop woke up and started its background task."""

    kind: ClassVar[str] = "agent-loop:tick"
    invocation: int
    task_id: str
    open_questions: int = 0


class LoopTickSkipped(Event):
    """The agent loop's tick was skipped; `reason` says why."""

    kind: ClassVar[str] = "agent-loop:skipped"
    reason: str
    invocation_count: int = 0
    open_questions: int = 0


class LoopGoalsChanged(Event):
    """The goals the agent loop works towards were set, added to or cleared."""

    kind: ClassVar[str] = "agent-loop:goals"
    goals: list[str]


class QuestionAsked(Event):
    """An agent asked the person a blocking question (it is stored and about to be shown)."""

    kind: ClassVar[str] = "question:asked"
    question_id: str
    question: str
    task_id: str | None = None
    origin: str = "agent"
    """Who started the asking agent: agent-loop, schedule, user, agent."""


class QuestionAnswered(Event):
    """The person answered a blocking question."""

    kind: ClassVar[str] = "question:answered"
    question_id: str
    answer: str


class QuestionWithdrawn(Event):
    """A question was withdrawn because the agent that asked it was stopped."""

    kind: ClassVar[str] = "question:withdrawn"
    question_id: str
    task_id: str | None = None


class QuestionWaitEnded(Event):
    """The agent that asked a question stopped waiting (it got the answer, or the question went away)."""

    kind: ClassVar[str] = "question:wait-ended"
    question_id: str
    task_id: str | None = None


class QuestionsSettled(Event):
    """No blocking question is open any more (each was answered or withdrawn)."""

    kind: ClassVar[str] = "question:none-open"


class RunnerChanged(Event):
    """This process became (or stopped being) the workspace's runner."""

    kind: ClassVar[str] = "runner:changed"
    pid: int
    is_runner: bool
    reason: str | None = None


class StaleFilesRemoved(Event):
    """The runner removed what killed processes left in `.oboto/` (old temp files, unused locks of gone files)."""

    kind: ClassVar[str] = "workspace:stale-files-removed"
    temp_files: list[str]
    lock_files: list[str]


class MemoryStored(Event):
    """A memory was added, or a near-identical one was updated in its place (`updated`)."""

    kind: ClassVar[str] = "memory:stored"
    memory_id: str
    memory_kind: str
    source: str | None = None
    updated: bool = False


class MemoryForgotten(Event):
    """A memory was deleted."""

    kind: ClassVar[str] = "memory:forgotten"
    memory_id: str


class EpisodesPruned(Event):
    """Episode memories older than `memory.episode_retention_days` were deleted (facts and procedures never are)."""

    kind: ClassVar[str] = "memory:episodes-pruned"
    count: int
    older_than: datetime


class MemoryReembedded(Event):
    """The memory store was made with another embedding model; every memory was embedded again with this one."""

    kind: ClassVar[str] = "memory:reembedded"
    previous: str
    embedder: str
    count: int


class EmergencyStopped(Event):
    """`oboto stop`: every task was cancelled and every schedule and the loop paused."""

    kind: ClassVar[str] = "control:stopped"
    tasks: int
    schedules: int
    loop: bool


class EmergencyResumed(Event):
    """`oboto resume`: what the emergency stop paused runs again."""

    kind: ClassVar[str] = "control:resumed"
    schedules: int
    loop: bool


class PermissionModeChanged(Event):
    """The person switched the permission mode of this process's own conversation."""

    kind: ClassVar[str] = "control:mode"
    mode: str


class ModelChosen(Event):
    """The process's model choice became final after looking for a local server (nothing else was configured)."""

    kind: ClassVar[str] = "model:chosen"
    model: str | None
    reason: str


class ChangeRecorded(Event):
    """A checkpointed change of the workspace's files was recorded (a turn, task, shell command, undo or redo)."""

    kind: ClassVar[str] = "checkpoint:change"
    change_id: str
    change_kind: str
    conversation: str | None = None
    task_id: str | None = None
    message_id: str | None = None
    undoes: str | None = None
    files: int
