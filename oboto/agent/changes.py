"""How tools report what they change, so a turn's checkpointed change lists exactly its own files.

The checkpoint service (services/checkpoints.py) implements `ChangeScope`; a turn or task puts its open
change on `ToolContext.changes`. Tools never see the service itself.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from oboto.agent.tools.base import ToolContext

current_tool_call: ContextVar[str | None] = ContextVar("oboto_current_tool_call", default=None)
"""The id of the tool call running in this context (set by ToolRegistry.execute; copied into worker threads)."""


class ChangeScope(Protocol):
    """An open change of the workspace's files, checkpointed before it began."""

    async def ready(self) -> None:
        """Return once the before checkpoint is taken; a tool that writes waits for it (the model need not)."""

    def wrote(self, path: str, tool_call_id: str | None) -> None:
        """A tool changed `path` (relative to the workspace root, POSIX style)."""

    def around_program(self, tool_call_id: str | None, tool: str) -> AbstractAsyncContextManager[object]:
        """Checkpoint before and after a call whose file changes only a checkpoint can see (a shell command)."""


def report_written(ctx: "ToolContext", path: str) -> None:
    """Tell the turn's open change, if any, that the running tool call changed `path`."""
    if ctx.changes is not None:
        ctx.changes.wrote(path, current_tool_call.get())
