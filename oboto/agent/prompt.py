"""The system prompt every agent starts from: persona, workspace, its profile's prompt, the project's instructions."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from oboto.agent.tools.base import ToolContext
from oboto.core import safe_open
from oboto.core.paths import user_config_dir

PROJECT_INSTRUCTION_FILES = ("AGENTS.md", "CLAUDE.md")
"""Read at the workspace root; the first that exists is used (CLAUDE.md only where there is no AGENTS.md)."""
USER_INSTRUCTIONS_FILE = "AGENTS.md"
HOW_TO_WORK = [
    "How to work:",
    "- Use the tools to look before you change anything; paths are relative to the workspace.",
    "- Prefer edit_file for small changes to existing files; write_file replaces a whole file.",
    "- When a tool returns an error, read it and adjust instead of repeating the same call.",
    "- Keep answers short and concrete; say what you changed and where.",
]


def system_prompt(ctx: ToolContext, *, now: datetime | None = None) -> str:
    now = now or datetime.now().astimezone()
    lines = [
        ctx.settings.agent.persona,
        "",
        f"Workspace: {ctx.paths.root}",
        f"Current time: {now.strftime('%Y-%m-%d %H:%M %Z')}",
    ]
    if ctx.profile is not None:
        lines.append(f"Agent: {ctx.profile.name} ({ctx.profile.description})")
    if ctx.task_id:
        lines.append(f"You are running as background task {ctx.task_id}; nobody is watching live, so finish the job "
                     "and end with a concise summary of what you did and found.")
    elif ctx.conversation:
        lines.append(f"Conversation: {ctx.conversation}")
    if ctx.is_read_only():
        lines.append(f"You are read-only right now ({ctx.read_only_reason}): observe and report, change nothing.")
    lines += ["", *(ctx.profile.prompt.splitlines() if ctx.profile is not None else HOW_TO_WORK)]
    if instructions := project_instructions(ctx.paths.root, ctx.settings.agent.instructions_max_chars):
        lines += ["", instructions]
    return "\n".join(lines)


def project_instructions(root: Path, max_chars: int) -> str:
    """The workspace's AGENTS.md (or CLAUDE.md) and the person's own ~/.config/oboto/AGENTS.md, within `max_chars`
    together (the project's first); what does not fit is cut, with a note saying so."""
    if max_chars <= 0:
        return ""
    found: list[tuple[str, str]] = []
    project = next((root / name for name in PROJECT_INSTRUCTION_FILES if (root / name).is_file()), None)
    if project is not None:
        found.append((f"{project.name} (the project's instructions)", _read_in_workspace(root, project, max_chars)))
    user_file = user_config_dir() / USER_INSTRUCTIONS_FILE
    if user_file.is_file():
        found.append((f"{user_file} (the person's own instructions)", _read(user_file, max_chars)))
    sections: list[str] = []
    budget = max_chars
    for title, text in found:
        text = text.strip()
        if not text:
            continue
        if budget <= 0:
            text = "[left out: agent.instructions_max_chars is used up by the instructions above]"
        elif len(text) > budget:
            text = text[:budget].rstrip() + (f"\n\n[cut: only the first {budget} characters of this file are shown "
                                              "(agent.instructions_max_chars); read the file itself for the rest]")
            budget = 0
        else:
            budget -= len(text)
        sections.append(f"## Instructions from {title}\n\n{text}")
    if not sections:
        return ""
    return "Follow these instructions for this workspace:\n\n" + "\n\n".join(sections)


def _read_in_workspace(root: Path, path: Path, max_chars: int) -> str:
    """Like `_read`, for a file of the workspace: a link to a file inside it is read, one leading out is not."""
    real_root = root.resolve()
    real = path.resolve()
    if not real.is_relative_to(real_root):
        return ""
    try:
        fd = safe_open.open_file(real, os.O_RDONLY, base=real_root)
    except OSError:
        return ""
    with os.fdopen(fd, encoding="utf-8", errors="replace") as handle:
        return handle.read(max_chars + 1)


def _read(path: Path, max_chars: int) -> str:
    """At most a little more than `max_chars` of the file (so a huge file costs no more than a capped one)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.read(max_chars + 1)
    except OSError:
        return ""
