"""Agent-loop tools: a background agent asks the person a blocking question and waits for the answer; any agent
sets the goals the loop works towards."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import Iterator

from pydantic import Field

from oboto.agent.tools.base import Tool, ToolArgs, ToolContext, ToolResult
from oboto.agent.tools.deps import LOOP, QUESTIONS
from oboto.core.question_rules import MAX_QUESTION_CHARS


class AskArgs(ToolArgs):
    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS,
        description="One clear question the person can answer in a few words; say what you need and why.",
    )


@contextmanager
def suspended_deadline(deadline: asyncio.Timeout | None) -> Iterator[None]:
    """Stop the task's clock while it waits for the person: waiting is not work and must not time it out."""
    if deadline is None or deadline.when() is None:
        yield
        return
    loop = asyncio.get_running_loop()
    remaining = max(0.0, deadline.when() - loop.time())
    deadline.reschedule(None)
    try:
        yield
    finally:
        deadline.reschedule(loop.time() + remaining)


class AskBlockingQuestion(Tool):
    """Ask the person a question and wait for the answer; the agent loop pauses until it comes."""

    name = "ask_blocking_question"
    description = (
        "Ask the person a question you cannot go on without, and wait for the answer (it is the result). "
        "The question is shown in chat; the agent loop pauses until it is answered, which may take hours. "
        "Use it only when you are truly stuck: prefer deciding sensibly yourself and saying so."
    )
    Args = AskArgs
    requires = (QUESTIONS,)

    def unavailable_reason(self, ctx: ToolContext) -> str | None:
        if ctx.task_id is None:
            return ("ask_blocking_question is for background agents; the person is right here, "
                    "so ask your question in your reply")
        return super().unavailable_reason(ctx)

    async def run(self, args: AskArgs, ctx: ToolContext) -> ToolResult:
        with suspended_deadline(ctx.extra.get("deadline")):
            answer = await ctx.use(QUESTIONS).ask(args.question, task_id=ctx.task_id, origin=ctx.origin)
        return ToolResult.success(answer)


MAX_GOALS = 20
MAX_GOAL_CHARS = 500


class GoalsArgs(ToolArgs):
    goals: list[str] = Field(max_length=MAX_GOALS, description="The goals, most important first (an empty list clears them).")
    append: bool = Field(False, description="Add these to the current goals instead of replacing them.")


class SetLoopGoals(Tool):
    """Set (or add to) the goals the autonomous agent loop works towards."""

    name = "set_loop_goals"
    description = ("Set the goals the autonomous agent loop works towards (shown in its briefing, which also recalls "
                   "the memories that fit them); append=true adds to the current goals, an empty list clears them.")
    Args = GoalsArgs
    requires = (LOOP,)
    tier = "write"

    async def run(self, args: GoalsArgs, ctx: ToolContext) -> ToolResult:
        goals = [goal.strip()[:MAX_GOAL_CHARS] for goal in args.goals if goal.strip()]
        loop = ctx.use(LOOP)
        if args.append:
            state = None
            for goal in goals:
                state = loop.add_goal(goal)
            if state is None:
                return ToolResult.error("give at least one goal to add")
        else:
            state = loop.set_goals(goals)
        if not state.goals:
            return ToolResult.success("The agent loop has no goals now.")
        return ToolResult.success("The agent loop's goals:\n" + "\n".join(f"- {goal}" for goal in state.goals))


def loop_tools() -> list[Tool]:
    return [AskBlockingQuestion(), SetLoopGoals()]
