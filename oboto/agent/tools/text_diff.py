"""What a file tool changed, in words and a short unified diff, so the model can check its own edit."""

from __future__ import annotations

import difflib

from oboto.agent.tools.workspace_paths import file_diff

MAX_DIFF_LINES = 60
MAX_DIFF_CHARS = 4000
MAX_COMPARED_CHARS = 512 * 1024
"""Above this, only line counts are reported: difflib's cost grows faster than the text."""


def line_count(text: str) -> int:
    """Lines as git counts them: a last line without a newline still counts."""
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def lines_word(count: int) -> str:
    return f"{count} line" if count == 1 else f"{count} lines"


def line_changes(old: str, new: str) -> tuple[int, int] | None:
    """(lines added, lines deleted) from `old` to `new`; None when the texts are too big to compare."""
    if len(old) > MAX_COMPARED_CHARS or len(new) > MAX_COMPARED_CHARS:
        return None
    added = deleted = 0
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if tag != "equal":
            deleted += old_end - old_start
            added += new_end - new_start
    return added, deleted


def short_diff(name: str, old: str, new: str) -> str:
    """The change as `git diff` shows it, cut at MAX_DIFF_LINES / MAX_DIFF_CHARS."""
    if len(old) > MAX_COMPARED_CHARS or len(new) > MAX_COMPARED_CHARS:
        return ""
    lines = file_diff(name, old, new).splitlines()
    kept: list[str] = []
    size = 0
    for line in lines:
        if len(kept) >= MAX_DIFF_LINES or size + len(line) > MAX_DIFF_CHARS:
            kept.append(f"[… {len(lines) - len(kept)} more diff lines; read_file shows the whole file]")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)
