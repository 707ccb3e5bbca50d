"""The system prompt every agent starts from: persona, workspace, and how to work in it."""

from __future__ import annotations

from datetime import datetime

from oboto.agent.tools.base import ToolContext


def system_prompt(ctx: ToolContext, *, now: datetime | None = None) -> str:
    now = now or datetime.now().astimezone()
    lines = [
        ctx.settings.agent.persona,
        "",
        f"Workspace: {ctx.paths.root}",
        f"Current time: {now.strftime('%Y-%m-%d %H:%M %Z')}",
    ]
    if ctx.task_id:
        lines.append(f"You are running as background task {ctx.task_id}; nobody is watching live, so finish the job "
                     "and end with a concise summary of what you did and found.")
    elif ctx.conversation:
        lines.append(f"Conversation: {ctx.conversation}")
    if ctx.is_read_only():
        lines.append(f"You are read-only right now ({ctx.read_only_reason}): observe and report, change nothing.")
    lines += [
        "",
        "How to work:",
        "- Use the tools to look before you change anything; paths are relative to the workspace.",
        "- Prefer edit_file for small changes to existing files; write_file replaces a whole file.",
        "- When a tool returns an error, read it and adjust instead of repeating the same call.",
        "- Keep answers short and concrete; say what you changed and where.",
    ]
    return "\n".join(lines)
