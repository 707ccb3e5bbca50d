"""Slash commands typed in the chat input: `/name argument`, handled by the app and never sent to the model."""

from __future__ import annotations

import re

# A word right after the slash, then nothing or a space: "/etc/hosts is broken" is a message, not a command.
SLASH_COMMAND = re.compile(r"/([a-z][a-z0-9_-]*)(?:\s+(.*))?", re.DOTALL | re.IGNORECASE)
SLASH_HELP = ("Commands: /undo [ID] undoes this conversation's latest change (or change ID), /redo takes the "
              "latest undo back, /diff [ID] shows a change's diff.")


def parse_slash(text: str) -> tuple[str, str] | None:
    """(command name, its argument stripped) when `text` is a slash command, else None."""
    match = SLASH_COMMAND.fullmatch(text.strip())
    if match is None:
        return None
    return match.group(1).lower(), (match.group(2) or "").strip()
