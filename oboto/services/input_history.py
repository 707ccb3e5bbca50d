"""What the person sent from the input, per workspace (`.oboto/input-history`), for ↑/↓ in the TUI.

One JSON string per line, oldest first; multi-line messages stay one line (JSON escapes their newlines).
Appends are one `write()` each (O_APPEND keeps lines of two processes whole) and are not fsynced: losing
the last line in a power cut costs a recall, not work. The file is cut back to the newest `MAX_ENTRIES`
when it grows to twice that, under its lock, so an append from another process is never lost to the cut.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from oboto.core import safe_open
from oboto.core.atomic import atomic_write_bytes
from oboto.core.bus import EventBus
from oboto.core.events import FileQuarantined
from oboto.core.locks import locked
from oboto.core.quarantine import append_repairing, damaged_path, describe_unusable, move_aside, quarantine_name

MAX_ENTRIES = 1000
"""Entries kept (the newest)."""
MAX_ENTRY_CHARS = 20_000
"""Longer messages (a pasted log) are sent but not kept: recalling them is not worth the file's size."""


class InputHistory:
    """The only writer of `.oboto/input-history`."""

    def __init__(self, path: Path, bus: EventBus) -> None:
        self.path = path
        self.bus = bus
        self._lines_on_disk = 0

    def entries(self) -> list[str]:
        """Every kept entry, oldest first. Unreadable lines are dropped from the file, a copy of it kept aside; a
        file that cannot be read as one (a link, a folder) is moved aside and the history starts afresh."""
        try:
            raw_lines = safe_open.read_bytes(self.path).splitlines()
        except FileNotFoundError:
            return []
        except OSError as error:
            if (damaged := damaged_path(error)) is None:
                raise
            self._publish(move_aside(damaged, describe_unusable(error)))
            return []
        entries, bad = _parse(raw_lines)
        if bad:
            self._repair(bad)
        self._lines_on_disk = len(entries)
        return entries

    def add(self, text: str) -> None:
        """Keep `text` as the newest entry (blank and oversized ones are not kept)."""
        if not text.strip() or len(text) > MAX_ENTRY_CHARS:
            return
        with locked(self.path) as moved_lock:
            _size, moved = append_repairing(self.path, orjson.dumps(text) + b"\n", fsync=False)
            self._lines_on_disk += 1
            if self._lines_on_disk >= 2 * MAX_ENTRIES:
                self._cut_to_newest()
        self._publish(moved_lock)
        self._publish(moved)

    def _cut_to_newest(self) -> None:
        """Under the lock: rewrite the file with its newest MAX_ENTRIES readable entries."""
        entries, _bad = _parse(safe_open.read_bytes(self.path).splitlines())
        kept = entries[-MAX_ENTRIES:]
        atomic_write_bytes(self.path, b"".join(orjson.dumps(entry) + b"\n" for entry in kept))
        self._lines_on_disk = len(kept)

    def _repair(self, bad: list[str]) -> None:
        with locked(self.path) as moved_lock:  # one line per entry, not a JSON document: rewritten under its lock
            original = safe_open.read_bytes(self.path)
            backup = quarantine_name(self.path)
            atomic_write_bytes(backup, original)
            entries, _bad = _parse(original.splitlines())
            atomic_write_bytes(self.path, b"".join(orjson.dumps(entry) + b"\n" for entry in entries))
        self._publish(moved_lock)
        reason = f"{len(bad)} unreadable line(s) skipped ({bad[0]})"
        self._publish(FileQuarantined(path=str(self.path), moved_to=str(backup), reason=reason))

    def _publish(self, moved: FileQuarantined | None) -> None:
        if moved is not None:
            self.bus.publish(moved)


def _parse(raw_lines: list[bytes]) -> tuple[list[str], list[str]]:
    """The entries, and what is wrong with each line that is not one (by line number)."""
    entries: list[str] = []
    bad: list[str] = []
    for number, raw in enumerate(raw_lines, 1):
        if not raw.strip():
            continue
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            bad.append(f"line {number}: not valid JSON ({error})")
            continue
        if isinstance(entry, str):
            entries.append(entry)
        else:
            bad.append(f"line {number}: not a text entry")
    return entries, bad
