"""Memory tools: remember, recall and forget in the workspace's shared memory.

`remember` changes oboto's state (tier write, so the permission mode weighs it) but no workspace file, so a
read-only agent (the loop while the person is mid-turn) may still keep what it observed (writes=False).
`forget` deletes what other agents learned, so it is withheld from read-only agents.
Every store call runs in a worker thread: embedding and Chroma block, the event loop must not.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import Field, StringConstraints

from oboto.agent.tools.base import Tool, ToolArgs, ToolContext, ToolResult
from oboto.agent.tools.deps import MEMORY
from oboto.core.memory_rules import (
    MAX_QUERY_CHARS,
    MAX_RECALL,
    MAX_TAG_CHARS,
    MAX_TAGS,
    MAX_TEXT_CHARS,
    MEMORY_ID_PATTERN,
    MemoryKind,
)
from oboto.core.text import cut

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TAG_CHARS,
                                       pattern=r"^[^,]+$")]


def _source(ctx: ToolContext) -> str | None:
    """Where a memory came from: the task that stored it, else the conversation."""
    return ctx.task_id or ctx.conversation


class RememberArgs(ToolArgs):
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS,
                      description="What to keep, self-contained: later agents see only this text.")
    kind: MemoryKind = Field("note", description="fact (true about the project), procedure (how to do something), "
                                           "episode (what happened), or note.")
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS,
                            description=f"Up to {MAX_TAGS} short labels (no commas).")


class Remember(Tool):
    """Keep something in the workspace memory, shared with every agent."""

    name = "remember"
    description = (
        "Store a memory in the workspace's shared memory so later agents (and you, later) can recall it. "
        "Use it for durable facts, procedures that worked, and decisions. A near-identical memory is updated, "
        "not duplicated."
    )
    Args = RememberArgs
    requires = (MEMORY,)
    tier = "write"
    writes = False

    async def run(self, args: RememberArgs, ctx: ToolContext) -> ToolResult:
        record = await asyncio.to_thread(ctx.use(MEMORY).remember, args.text, kind=args.kind, tags=args.tags,
                                         source=_source(ctx))
        verb = "Updated the near-identical memory" if record.times > 1 else "Remembered"
        return ToolResult.success(f"{verb} {record.id} ({record.kind}).", memory_id=record.id)


class RecallArgs(ToolArgs):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What you want to know about.")
    k: int = Field(5, ge=1, le=MAX_RECALL, description="How many memories to return, best first.")
    kind: MemoryKind | None = Field(None, description="Only memories of this kind.")


class Recall(Tool):
    """Find the memories most relevant to a query."""

    name = "recall"
    description = (
        "Search the workspace's shared memory for what earlier agents and conversations learned. Returns the most "
        "similar memories, best first, with a similarity score (1 is identical) and their ids."
    )
    Args = RecallArgs
    requires = (MEMORY,)

    async def run(self, args: RecallArgs, ctx: ToolContext) -> ToolResult:
        found = await asyncio.to_thread(ctx.use(MEMORY).recall, args.query, k=args.k, kind=args.kind)
        if not found:
            return ToolResult.success("No memories found" + (f" of kind {args.kind}." if args.kind else "."))
        lines = [f"{position}. [{memory.score:.2f}] {memory.record.line()}"
                 for position, memory in enumerate(found, start=1)]
        return ToolResult.success("\n".join(lines), ids=[memory.record.id for memory in found])


class ForgetArgs(ToolArgs):
    id: str = Field(pattern=MEMORY_ID_PATTERN, description="The memory's id, like m-1a2b3c4d5e6f (from recall).")


class Forget(Tool):
    """Delete a memory that is wrong or no longer true."""

    name = "forget"
    description = "Delete one memory from the workspace's shared memory, by id, when it is wrong or outdated."
    Args = ForgetArgs
    requires = (MEMORY,)
    tier = "write"

    async def run(self, args: ForgetArgs, ctx: ToolContext) -> ToolResult:
        record = await asyncio.to_thread(ctx.use(MEMORY).forget, args.id)
        return ToolResult.success(f"Forgot {record.id}: {cut(record.text, 200)}")


def memory_tools() -> list[Tool]:
    return [Remember(), Recall(), Forget()]
