"""Short one-line excerpts of text, for briefings, notices and tool results."""

from __future__ import annotations

import re
import unicodedata


def cut(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters of it, with an ellipsis when something was cut."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[:limit] + "…"


def one_line(text: str) -> str:
    """`text` safe to print as one line: line breaks, terminal escapes and bidi overrides shown as escapes."""
    return "".join(char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in ("Cc", "Cf")
                   and char != "\t" else char for char in text)


def cut_middle(text: str, limit: int, why: str) -> str:
    """`text` with its middle left out beyond `limit` characters, saying how much and `why` where it was cut."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit // 2], text[len(text) - limit // 2:]
    return f"{head}\n[… {len(text) - len(head) - len(tail)} characters cut ({why}) …]\n{tail}"
