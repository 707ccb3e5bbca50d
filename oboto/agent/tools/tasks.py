"""Background-task tools: spawn, inspect, cancel, read output, wait."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from oboto.agent.tools.base import Tool, ToolArgs, ToolContext, ToolResult
from oboto.agent.tools.deps import TASKS, Tasks, TaskView
from oboto.core.names import NAME_PATTERN

TaskId = Field(pattern=r"^t-[0-9a-f]{8}$", description="The task id, like t-1a2b3c4d.")
StatusFilter = Literal["queued", "running", "awaiting_answer", "completed", "failed", "cancelled", "timed_out", "interrupted"]
ACTIVE = ("queued", "running", "awaiting_answer")
AgentName = Field(None, pattern=NAME_PATTERN.pattern,
                  description="The agent profile to run as (e.g. explore, reviewer); the default agent when left out.")
NO_RUNNER_NOTE = (" No runner is active on this workspace, so it waits in the queue until the terminal UI or "
                  "`oboto daemon` runs (or `oboto run` finishes it).")


def _queued_note(tasks: Tasks) -> str:
    return "" if tasks.runner_active() else NO_RUNNER_NOTE


def _describe(record: TaskView) -> str:
    lines = [f"{record.id} [{record.status}] {record.description}"]
    if record.elapsed_seconds is not None:
        lines.append(f"elapsed: {record.elapsed_seconds:.1f}s, model calls: {record.iterations}, tool calls: {record.tool_calls}")
    if record.result and record.status == "completed":
        lines.append(f"result:\n{record.result}")
    if record.error:
        lines.append(f"error: {record.error}")
    return "\n".join(lines)


class SpawnArgs(ToolArgs):
    description: str = Field(min_length=1, max_length=500, description="A short title for the task.")
    query: str = Field(min_length=1, max_length=50_000, description="Complete instructions for the background agent.")
    context: str | None = Field(None, max_length=50_000, description="Background the agent needs (it does not see this conversation).")
    agent: str | None = AgentName
    model: str | None = Field(None, min_length=1, max_length=200,
                              description="A litellm model string for this task; the agent's or the workspace's when left out.")


class SpawnBackgroundTask(Tool):
    """Start a background agent on a self-contained job; returns its id at once."""

    name = "spawn_background_task"
    description = (
        "Start a background agent that works on a self-contained job while you continue. Returns a task id at once; "
        "you are told in the conversation when it ends. Give complete instructions: it does not see this conversation."
    )
    Args = SpawnArgs
    requires = (TASKS,)
    tier = "write"
    writes = False  # a read-only agent's tasks are read-only too (see `read_only=` below)

    async def run(self, args: SpawnArgs, ctx: ToolContext) -> ToolResult:
        tasks = ctx.use(TASKS)
        record = tasks.spawn(
            args.description, args.query, context=args.context, conversation=ctx.conversation or "chat",
            origin="agent", parent_task_id=ctx.task_id, depth=ctx.depth + 1, read_only=ctx.read_only,
            guarded=ctx.busy_guard is not None, agent=args.agent, model=args.model,
        )
        return ToolResult.success(f"Spawned {record.id} ({record.description}); status {record.status}."
                                  + _queued_note(tasks), task_id=record.id)


class TaskIdArgs(ToolArgs):
    task_id: str = TaskId


class CheckTaskStatus(Tool):
    """Report one task's status, timing and result or error."""

    name = "check_task_status"
    description = "Get a background task's status, elapsed time, and its result or error when it has ended."
    Args = TaskIdArgs
    requires = (TASKS,)

    async def run(self, args: TaskIdArgs, ctx: ToolContext) -> ToolResult:
        return ToolResult.success(_describe(ctx.use(TASKS).get(args.task_id)))


class ListArgs(ToolArgs):
    status: StatusFilter | Literal["all", "active"] | None = Field(
        None, description="Only tasks in this state; active: queued, running or awaiting an answer; all (the default): every task.")
    limit: int = Field(30, ge=1, le=200, description="At most this many, newest first.")


class ListBackgroundTasks(Tool):
    """List background tasks, newest first."""

    name = "list_background_tasks"
    description = "List background tasks (newest first) with their status, optionally only those in one state."
    Args = ListArgs
    requires = (TASKS,)

    async def run(self, args: ListArgs, ctx: ToolContext) -> ToolResult:
        wanted = None if args.status in (None, "all") else ACTIVE if args.status == "active" else args.status
        records = ctx.use(TASKS).list(wanted)[::-1][: args.limit]
        if not records:
            return ToolResult.success("No background tasks" + (f" with status {args.status}." if args.status else "."))
        return ToolResult.success("\n".join(record.summary_line() for record in records))


class CancelArgs(ToolArgs):
    task_id: str | None = Field(None, pattern=r"^t-[0-9a-f]{8}$", description="The task to cancel, like t-1a2b3c4d.")
    all: bool = Field(False, description="Cancel every queued and running task instead of one.")

    @model_validator(mode="after")
    def _one_or_all(self) -> "CancelArgs":
        if self.all == (self.task_id is not None):
            raise ValueError("give task_id, or all=true to cancel every task (not both)")
        return self


class CancelBackgroundTask(Tool):
    """Cancel a queued or running task (or all of them); its agent stops before its next step."""

    name = "cancel_background_task"
    description = ("Cancel a queued or running background task, or every one with all=true; a running agent is "
                   "stopped at once.")
    Args = CancelArgs
    requires = (TASKS,)
    tier = "write"

    async def run(self, args: CancelArgs, ctx: ToolContext) -> ToolResult:
        tasks = ctx.use(TASKS)
        if args.all:
            records = tasks.cancel_all(reason=f"cancelled by {ctx.task_id or ctx.conversation or 'an agent'}")
            if not records:
                return ToolResult.success("No queued or running tasks to cancel.")
            return ToolResult.success(f"Cancellation of {len(records)} task(s) requested: "
                                      + ", ".join(record.id for record in records))
        assert args.task_id is not None
        record = tasks.cancel(args.task_id)
        if record.finished and record.status != "cancelled":
            return ToolResult.success(f"{record.id} had already ended ({record.status}).")
        return ToolResult.success(f"Cancellation of {record.id} requested; status {record.status}.")


class OutputArgs(ToolArgs):
    task_id: str = TaskId
    tail_lines: int | None = Field(None, ge=1, le=2000, description="Only the last N lines.")
    offset: int | None = Field(None, ge=0, description="Read from this byte offset (from a previous call's next_offset).")


class GetTaskOutput(Tool):
    """Read a task's live output log."""

    name = "get_task_output"
    description = "Read what a background task's agent has said and done so far (its live log)."
    Args = OutputArgs
    requires = (TASKS,)

    async def run(self, args: OutputArgs, ctx: ToolContext) -> ToolResult:
        output = ctx.use(TASKS).output(args.task_id, tail=args.tail_lines, offset=args.offset)
        text = output.text or "(no output yet)"
        return ToolResult.success(f"{text}\n[next_offset={output.offset} of {output.size} bytes]", next_offset=output.offset)


class WaitArgs(ToolArgs):
    task_id: str = TaskId
    timeout_seconds: float = Field(300, gt=0, le=3600, description="Longest wait; the current status is returned then.")


class WaitForTask(Tool):
    """Wait for a task to end (or for the timeout) and return its status."""

    name = "wait_for_task"
    description = "Wait until a background task ends or the timeout passes, then return its status and result."
    Args = WaitArgs
    requires = (TASKS,)

    async def run(self, args: WaitArgs, ctx: ToolContext) -> ToolResult:
        record = await ctx.use(TASKS).wait(args.task_id, args.timeout_seconds)
        prefix = "" if record.finished else f"Still {record.status} after {args.timeout_seconds:g}s.\n"
        return ToolResult.success(prefix + _describe(record))


class ContinueArgs(ToolArgs):
    task_id: str = TaskId
    prompt: str = Field(min_length=1, max_length=50_000,
                        description="The follow-up: what the task's agent should do next, with its earlier work in view.")


class ContinueTask(Tool):
    """Give a finished task a follow-up; its agent goes on with its own history."""

    name = "continue_task"
    description = ("Continue a finished background task with a follow-up prompt: the same task (same id) runs again, "
                   "its agent seeing everything it did before. Use wait_for_task for the new result.")
    Args = ContinueArgs
    requires = (TASKS,)
    tier = "write"

    async def run(self, args: ContinueArgs, ctx: ToolContext) -> ToolResult:
        tasks = ctx.use(TASKS)
        record = tasks.continue_task(args.task_id, args.prompt)
        return ToolResult.success(f"Continuing {record.id} ({record.description}); status {record.status}."
                                  + _queued_note(tasks), task_id=record.id)


def task_tools() -> list[Tool]:
    return [SpawnBackgroundTask(), CheckTaskStatus(), ListBackgroundTasks(), CancelBackgroundTask(),
            GetTaskOutput(), WaitForTask(), ContinueTask()]
