"""Short one-line excerpts of text, for briefings, notices and tool results."""

from __future__ import annotations

import re


def cut(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters of it, with an ellipsis when something was cut."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[:limit] + "…"
