"""Conversation tools: a child conversation reports back to its parent."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from oboto.agent.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult
from oboto.agent.tools.deps import CONVERSATIONS


class ReportToParentArgs(ToolArgs):
    summary: str = Field(min_length=1, max_length=20_000, description="What you did and what came of it, in a few sentences.")
    status: Literal["completed", "partial", "failed", "blocked"] = Field(
        "completed", description="How the work you were given ended."
    )
    key_findings: list[str] = Field(
        default_factory=list, max_length=50, description="The findings the parent must not miss, one per item."
    )


class ReportToParent(Tool):
    """Post a clearly marked report from this conversation into its parent (`chat`)."""

    name = "report_to_parent"
    description = (
        "Report back to the parent conversation (chat) with a summary, a status and key findings. "
        "Use it when the work this conversation was created for is done or cannot go on."
    )
    Args = ReportToParentArgs
    requires = (CONVERSATIONS,)
    tier = "write"
    writes = False

    async def run(self, args: ReportToParentArgs, ctx: ToolContext) -> ToolResult:
        if not ctx.conversation:
            raise ToolError("report_to_parent needs a conversation to report from")
        conversations = ctx.use(CONVERSATIONS)
        info = conversations.info(ctx.conversation)
        if info.parent is None:
            raise ToolError(f"{ctx.conversation!r} is the main conversation and has no parent; answer the person directly")
        conversations.report_to_parent(ctx.conversation, args.summary, args.status, args.key_findings)
        return ToolResult.success(f"Reported to {info.parent} ({args.status}).")


def conversation_tools() -> list[Tool]:
    return [ReportToParent()]
