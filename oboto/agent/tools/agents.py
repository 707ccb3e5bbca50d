"""call_agent: a specialised sub-agent answers within the caller's turn (the design's run_in_background: false)."""

from __future__ import annotations

from pydantic import Field

from oboto.agent.tools.base import Tool, ToolArgs, ToolContext, ToolResult
from oboto.agent.tools.deps import AGENTS
from oboto.core.names import NAME_PATTERN


class CallAgentArgs(ToolArgs):
    agent: str = Field(pattern=NAME_PATTERN.pattern,
                       description="The agent profile to call: explore (finds and reads), reviewer (reviews), general, "
                                   "or one of the workspace's own (`oboto agents list`).")
    prompt: str = Field(min_length=1, max_length=50_000,
                        description="Complete instructions: the sub-agent sees nothing of this conversation.")
    timeout_seconds: float | None = Field(None, gt=0, le=3600,
                                          description="Longest wait for its answer; its profile's limit when left out.")


class CallAgent(Tool):
    """Run a sub-agent now and return its answer as the result (it stops when this turn is cancelled)."""

    name = "call_agent"
    description = (
        "Ask a specialised agent to do a job now and get its answer as this call's result (you wait for it). "
        "It has only its profile's tools and never more rights than you. Use spawn_background_task instead for "
        "long jobs you need not wait for."
    )
    Args = CallAgentArgs
    requires = (AGENTS,)
    tier = "read"
    """Everything the sub-agent does passes the permission gate call by call, under rules no looser than these."""

    async def run(self, args: CallAgentArgs, ctx: ToolContext) -> ToolResult:
        answer = await ctx.use(AGENTS).call(args.agent, args.prompt, caller=ctx, timeout_seconds=args.timeout_seconds)
        if answer.status != "completed":
            text = f"\nWhat it said before it stopped:\n{answer.text}" if answer.text else ""
            return ToolResult.error(f"the {args.agent} agent stopped ({answer.status}): {answer.error}{text}")
        return ToolResult.success(answer.text or f"(the {args.agent} agent gave no answer)", agent=args.agent)


def agent_tools() -> list[Tool]:
    return [CallAgent()]
