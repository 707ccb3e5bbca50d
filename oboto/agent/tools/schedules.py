"""Recurring-task tools: create, list, and pause/resume/delete/trigger schedules."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from oboto.agent.tools.base import Tool, ToolArgs, ToolContext, ToolResult
from oboto.agent.tools.deps import SCHEDULES
from oboto.core.durations import parse_duration
from oboto.core.names import NAME_PATTERN


class CreateArgs(ToolArgs):
    name: str = Field(min_length=1, max_length=200, description="A short name for the recurring task.")
    query: str = Field(min_length=1, max_length=50_000,
                       description="Complete instructions for the agent that runs each time (it sees no conversation).")
    description: str | None = Field(None, max_length=2000, description="What this schedule is for.")
    interval_seconds: float | str | None = Field(
        None, description='Run every this many seconds (at least 10), or a duration like "30m", "2h", "1d".')
    interval_minutes: float | None = Field(None, gt=0, description="Instead of interval_seconds: every this many minutes.")
    cron: str | None = Field(None, description='Instead of an interval: a 5-field cron expression in local time, '
                                               'e.g. "0 9 * * 1-5".')
    max_runs: int | None = Field(None, description="Stop (pause) after this many runs; leave out for no limit.")
    skip_if_running: bool = Field(True, description="Skip a run while the previous run is still going.")
    tags: list[str] = Field(default_factory=list, max_length=20, description="Labels to find it by later.")
    agent: str | None = Field(None, pattern=NAME_PATTERN.pattern,
                              description="The agent profile each run uses (e.g. reviewer); the default agent when left out.")

    @model_validator(mode="after")
    def _one_interval(self) -> "CreateArgs":
        if self.interval_minutes is not None and self.interval_seconds is not None:
            raise ValueError("give interval_seconds or interval_minutes, not both")
        return self


class CreateRecurringTask(Tool):
    """Create a schedule that runs a background agent on an interval or a cron expression."""

    name = "create_recurring_task"
    description = (
        "Create a recurring task: a background agent runs `query` every interval_seconds (minimum 10) or "
        "interval_minutes, or on a 5-field cron expression. Give exactly one of them. Each run's result is reported "
        "in chat."
    )
    Args = CreateArgs
    requires = (SCHEDULES,)
    tier = "write"

    async def run(self, args: CreateArgs, ctx: ToolContext) -> ToolResult:
        interval = parse_duration(args.interval_seconds) if isinstance(args.interval_seconds, str) \
            else args.interval_seconds
        if args.interval_minutes is not None:
            interval = args.interval_minutes * 60
        schedule = ctx.use(SCHEDULES).create(
            args.name, args.query, description=args.description, interval_seconds=interval, cron=args.cron,
            max_runs=args.max_runs, skip_if_running=args.skip_if_running, tags=args.tags, agent=args.agent,
        )
        return ToolResult.success(f"Created {schedule.summary_line()}", schedule_id=schedule.id)


class ListArgs(ToolArgs):
    status: Literal["all", "active", "paused"] = Field("all", description="Only active or only paused ones.")
    tag: str | None = Field(None, min_length=1, description="Only those with this tag.")


class ListRecurringTasks(Tool):
    """List every schedule with its status, cadence, runs and last result."""

    name = "list_recurring_tasks"
    description = ("List recurring tasks (all, or only active or paused ones, or those with a tag) with their id, "
                   "status, cadence, run count, next run and last result.")
    Args = ListArgs
    requires = (SCHEDULES,)

    async def run(self, args: ListArgs, ctx: ToolContext) -> ToolResult:
        schedules = [schedule for schedule in ctx.use(SCHEDULES).list()
                     if args.status in ("all", schedule.status) and (args.tag is None or args.tag in schedule.tags)]
        if not schedules:
            which = " ".join(part for part in (args.status if args.status != "all" else "",
                                               f"tagged {args.tag!r}" if args.tag else "") if part)
            return ToolResult.success(f"No recurring tasks{' (' + which + ')' if which else ''}.")
        lines = []
        for schedule in schedules:
            lines.append(schedule.summary_line())
            if schedule.paused_reason:
                lines.append(f"  paused: {schedule.paused_reason}")
            if schedule.last_result:
                lines.append(f"  last result: {schedule.last_result}")
        return ToolResult.success("\n".join(lines))


class ManageArgs(ToolArgs):
    schedule_id: str = Field(pattern=r"^s-[0-9a-f]{8}$", description="The schedule id, like s-1a2b3c4d.")
    action: Literal["pause", "resume", "delete", "trigger_now"] = Field(
        description="pause, resume, delete, or trigger_now (run once now; a paused schedule stays paused).")


class ManageRecurringTask(Tool):
    """Pause, resume, delete or run a schedule once now."""

    name = "manage_recurring_task"
    description = "Pause, resume, delete, or trigger_now (run once now, honouring skip_if_running) a recurring task."
    Args = ManageArgs
    requires = (SCHEDULES,)
    tier = "write"

    async def run(self, args: ManageArgs, ctx: ToolContext) -> ToolResult:
        scheduler = ctx.use(SCHEDULES)
        if args.action == "pause":
            return ToolResult.success(f"Paused {scheduler.pause(args.schedule_id).summary_line()}")
        if args.action == "resume":
            return ToolResult.success(f"Resumed {scheduler.resume(args.schedule_id).summary_line()}")
        if args.action == "delete":
            return ToolResult.success(f"Deleted {scheduler.delete(args.schedule_id).summary_line()}")
        outcome = scheduler.trigger_now(args.schedule_id)
        if outcome.task_id:
            return ToolResult.success(f"Triggered {args.schedule_id}: started task {outcome.task_id}.",
                                      task_id=outcome.task_id)
        if outcome.skipped_reason:
            return ToolResult.success(f"Did not run {args.schedule_id}: {outcome.skipped_reason}.")
        return ToolResult.success(f"Asked the runner to run {args.schedule_id} now.")


def schedule_tools() -> list[Tool]:
    return [CreateRecurringTask(), ListRecurringTasks(), ManageRecurringTask()]
