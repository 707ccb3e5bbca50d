"""The permission modes by name: apart from `core.permissions`, so the CLI's parser lists them without importing
the rules engine (and pathspec) for every command."""

from __future__ import annotations

from typing import Literal, get_args

Mode = Literal["read-only", "ask", "auto-edit", "full"]
MODES: tuple[Mode, ...] = get_args(Mode)
DEFAULT_MODE: Mode = "auto-edit"
