"""The one rule for names people give things oboto keeps (conversations, agent profiles, MCP servers)."""

from __future__ import annotations

import re

NAME_PATTERN = re.compile(r"^[a-z0-9_-]{1,64}$")
NAME_RULE = "use 1-64 characters of a-z, 0-9, '-' and '_'"


def is_valid_name(name: str) -> bool:
    return isinstance(name, str) and bool(NAME_PATTERN.fullmatch(name))
