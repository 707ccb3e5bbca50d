"""What a memory may be: its kinds, its id and the sizes of its parts, checked alike by tools, services and UI."""

from __future__ import annotations

from typing import Literal

MemoryKind = Literal["fact", "episode", "procedure", "note"]
MEMORY_KINDS: tuple[str, ...] = ("fact", "episode", "procedure", "note")
MEMORY_ID_PATTERN = r"^m-[0-9a-f]{12}$"
MAX_TEXT_CHARS = 8000
MAX_QUERY_CHARS = 2000
MAX_TAGS = 20
MAX_TAG_CHARS = 40
MAX_RECALL = 50
