"""Schedule-run notices retired from a conversation: `.oboto/conversations/archive/<name>-<YYYY-MM>.jsonl`.

A notice that reports only runs of schedules (`scheduled: true`) and is older than `tasks.retention_days` leaves
the live history, so a conversation that schedules report into for weeks does not grow with them; what a person
wrote, every reply and every other notice stay. Under the conversation's lock, the notices are appended to the
archive of the month they were posted in (UTC), in one write, fsynced (ids already there are not written again);
only then is the conversation rewritten without them (a new file, fsynced, renamed into place) and its offset
index rebuilt. A crash therefore leaves each notice live, archived, or for a moment both, which the next pass
settles by dropping the live copy. An archive line is the notice's line as it stood in the conversation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import orjson

from oboto.core import safe_open
from oboto.core.archive_file import append_lines
from oboto.core.events import Event

# A message's lines start with its version and id (orjson keeps the field order), its update lines too.
_ID_PREFIX = re.compile(rb'^\{"version":\d+,"id":"([^"]+)"')


class ConversationArchive:
    """The archive files of retired notices; ConversationManager is their only writer (see the module)."""

    def __init__(self, folder: Path, report: Callable[[Event], None]) -> None:
        self.folder = folder
        self.report = report

    def path(self, name: str, month: str) -> Path:
        return self.folder / f"{name}-{month}.jsonl"

    def retire(self, history: Path, name: str, cutoff: datetime) -> int:
        """Move the schedule-run notices of `history` posted before `cutoff` into the archive; the caller holds
        the conversation's lock. Returns how many left the live history."""
        data = safe_open.read_bytes(history)
        lines = data.splitlines(keepends=True)
        retiring = _retiring(lines, cutoff)
        if not retiring:
            return 0
        by_month: dict[str, list[bytes]] = {}
        for position, month in retiring.items():
            by_month.setdefault(month, []).append(lines[position])
        for month, moving in by_month.items():
            archived = self.ids(name, month)  # a move a crash cut short: those are archived already
            fresh = [line for line in moving if _line_id(line) not in archived]
            if fresh:
                append_lines(self.path(name, month), fresh, self.report, entry="notice")
        kept = b"".join(line for position, line in enumerate(lines) if position not in retiring)
        safe_open.write_atomic(history, kept, mode=0o644)
        return len(retiring)

    def ids(self, name: str, month: str) -> set[str]:
        """The ids in one month's archive of `name` (whole lines only)."""
        try:
            data = safe_open.read_bytes(self.path(name, month))
        except FileNotFoundError:
            return set()
        return {found for line in data.splitlines(keepends=True)
                if line.endswith(b"\n") and (found := _line_id(line)) is not None}

def _line_id(line: bytes) -> str | None:
    match = _ID_PREFIX.match(line)
    return match.group(1).decode() if match else None


def _retiring(lines: list[bytes], cutoff: datetime) -> dict[int, str]:
    """The positions of the lines to retire, with the month each goes to: whole first lines of schedule-run
    notices posted before `cutoff` that no later line updates."""
    candidates: dict[str, tuple[int, str]] = {}
    updated: set[str] = set()
    for position, line in enumerate(lines):
        if not line.endswith(b"\n"):
            continue  # a torn last line stays as it is
        message_id = _line_id(line)
        if message_id in candidates:
            updated.add(message_id)  # a later line changes it: it stays live
            continue
        if message_id is None or b'"scheduled":true' not in line:
            continue
        try:
            record = orjson.loads(line)
            posted = datetime.fromisoformat(record["created_at"])
            due = (record.get("role") == "system" and record.get("marker") == "task-notice"
                   and record.get("scheduled") is True and posted < cutoff)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        if due:
            candidates[message_id] = (position, f"{posted:%Y-%m}")
    return {position: month for message_id, (position, month) in candidates.items() if message_id not in updated}
