"""`conversations/<name>.idx`: where each message of `<name>.jsonl` starts, so a turn or `show --tail N` reads only
what it needs, and a conversation's message count is known without reading it.

The index is derived data, never the record: a header (magic, the JSONL's inode) and one fixed-width entry per
message (the byte offset of its first line, its id, whether it is a `context-cleared` or `compaction` marker). It
is appended without fsync after each new message; on every use it is checked against the JSONL and caught up from
its last entry (a crash may leave it a message behind). One that is missing or belongs to another file (the JSONL
was repaired or replaced) is rebuilt; one that is damaged is moved aside, reported, and rebuilt. It never decides
what a message says: the JSONL does.

Written by hand: a fixed-width binary file is what lets the tail be found with one seek; no library does this.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import orjson

from oboto.core import safe_open
from oboto.core.events import Event
from oboto.core.quarantine import move_aside
from oboto.services.conversation_models import CLEARED_MARKER, COMPACTION_MARKER

MAGIC = b"OBOTOIX1"
HEADER = struct.Struct("<8sQ")
ENTRY = struct.Struct("<Q16sB7x")
MARKERS = {CLEARED_MARKER: 1, COMPACTION_MARKER: 2}
FIRST_SCAN_BLOCK = 128
SCAN_BLOCK = 4096
"""Entries read at a time when looking back for the last clear or compaction: the first read takes the newest
FIRST_SCAN_BLOCK (where a turn's region almost always starts), each later one twice as many, up to SCAN_BLOCK."""


@dataclass(frozen=True)
class IndexEntry:
    offset: int
    id: str
    marker: int

    @property
    def cleared(self) -> bool:
        return self.marker == MARKERS[CLEARED_MARKER]

    @property
    def compaction(self) -> bool:
        return self.marker == MARKERS[COMPACTION_MARKER]


def first_lines(data: bytes, start: int) -> Iterator[tuple[int, dict]]:
    """(offset, record) of every whole line of `data` (read from `start`) that is a JSON object."""
    position = start
    for raw in data.splitlines(keepends=True):
        offset, position = position, position + len(raw)
        if not raw.endswith(b"\n"):
            return
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict):
            yield offset, record


def is_message_line(record: dict) -> bool:
    """A message's first line (an update line only adds to a message written before it)."""
    return isinstance(record.get("id"), str) and "role" in record


class HistoryIndex:
    """The offset index of one conversation's JSONL (see the module's docstring)."""

    def __init__(self, jsonl: Path, report: Callable[[Event], None]) -> None:
        self.jsonl = jsonl
        self.path = jsonl.with_suffix(".idx")
        self.report = report

    # ----- reading ------------------------------------------------------------------------------

    def entries_from(self, history_fd: int, position: int) -> list[IndexEntry]:
        """The entries from the `position`-th on (negative: from the end), the index first brought up to date."""
        count = self.sync(history_fd)
        start = max(0, count + position if position < 0 else position)
        return self._read_entries(start, count)

    def count(self, history_fd: int) -> int:
        """How many messages the conversation has."""
        return self.sync(history_fd)

    def region_start(self, history_fd: int, compacted_through: Callable[[int], str | None]) -> int:
        """The offset a turn's history starts at: after the last clear, from the message the newest compaction
        after it covers up to (`compacted_through(offset)` reads that summary's `compacted_through`).

        Looks back from the end only as far as it must: to the clear, or to the message the summary names."""
        count = self.sync(history_fd)
        through: bytes | None = None
        end, wanted = count, FIRST_SCAN_BLOCK
        while end > 0:
            block = self._read_entries(max(0, end - wanted), end)
            wanted = min(2 * wanted, SCAN_BLOCK)
            for position in range(len(block) - 1, -1, -1):
                entry = block[position]
                if through is not None and _id_key(entry.id) == through:
                    return entry.offset
                if entry.cleared:
                    after = end - len(block) + position + 1
                    return self._read_entries(after, after + 1)[0].offset if after < count else self._end()
                if entry.compaction and through is None:
                    named = compacted_through(entry.offset)
                    through = _id_key(named) if named else b""
            end -= len(block)
        return 0

    def _end(self) -> int:
        return os.stat(self.jsonl, follow_symlinks=False).st_size

    def _read_entries(self, start: int, stop: int) -> list[IndexEntry]:
        if stop <= start:
            return []
        fd = safe_open.open_file(self.path, os.O_RDONLY)
        try:
            data = os.pread(fd, (stop - start) * ENTRY.size, HEADER.size + start * ENTRY.size)
        finally:
            os.close(fd)
        return [IndexEntry(offset, raw_id.rstrip(b"\0").decode("utf-8", "replace"), marker)
                for offset, raw_id, marker in ENTRY.iter_unpack(data[:len(data) - len(data) % ENTRY.size])]

    # ----- writing ------------------------------------------------------------------------------

    def add(self, offset: int, message_id: str, marker: str | None) -> None:
        """Index a message whose first line was just appended at `offset` (under the JSONL's lock)."""
        try:
            fd = safe_open.open_file(self.path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            return  # built when next read
        except OSError:
            return  # damaged: moved aside and rebuilt when next read
        try:
            os.write(fd, _entry(offset, message_id, marker))
        finally:
            os.close(fd)

    def sync(self, history_fd: int) -> int:
        """Check the index against the open JSONL and catch it up; returns the number of messages."""
        stat = os.fstat(history_fd)
        count = self._valid_count(stat)
        if count is None:
            return self._rebuild(history_fd, stat)
        last = self._read_entries(count - 1, count)[0] if count else None
        start = last.offset if last else 0
        data = os.pread(history_fd, stat.st_size - start, start)
        recent = {_id_key(entry.id) for entry in self._read_entries(max(0, count - 64), count)}
        added = b""
        for offset, record in first_lines(data, start):
            if offset == start and last is not None:
                if _id_key(str(record.get("id"))) != _id_key(last.id):
                    return self._rebuild(history_fd, stat)  # the entry does not point at its message: stale
                continue
            if is_message_line(record) and _id_key(record["id"]) not in recent:
                recent.add(_id_key(record["id"]))
                added += _entry(offset, record["id"], record.get("marker"))
        if added:
            self._append_raw(added)
        return count + len(added) // ENTRY.size

    def _valid_count(self, stat: os.stat_result) -> int | None:
        """The number of entries of a sound index of this JSONL; None when it must be rebuilt."""
        try:
            fd = safe_open.open_file(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as error:
            self._move_aside(f"cannot be read as an index ({error.strerror})")
            return None
        try:
            size = os.fstat(fd).st_size
            header = os.pread(fd, HEADER.size, 0)
        finally:
            os.close(fd)
        if len(header) < HEADER.size or HEADER.unpack(header)[0] != MAGIC or (size - HEADER.size) % ENTRY.size:
            self._move_aside("is not a conversation index (bad header or a torn entry)")
            return None
        count = (size - HEADER.size) // ENTRY.size
        if HEADER.unpack(header)[1] != stat.st_ino:
            return None  # the index of an earlier file (the history was repaired or replaced): rebuilt
        if count and self._read_entries(count - 1, count)[0].offset >= max(stat.st_size, 1):
            self._move_aside("points past the end of its conversation")
            return None
        return count

    def _rebuild(self, history_fd: int, stat: os.stat_result) -> int:
        data = os.pread(history_fd, stat.st_size, 0)
        seen: set[bytes] = set()
        entries = []
        for offset, record in first_lines(data, 0):
            if is_message_line(record) and _id_key(record["id"]) not in seen:
                seen.add(_id_key(record["id"]))
                entries.append(_entry(offset, record["id"], record.get("marker")))
        safe_open.write_atomic(self.path, HEADER.pack(MAGIC, stat.st_ino) + b"".join(entries), mode=0o644)
        return len(entries)

    def _append_raw(self, data: bytes) -> None:
        fd = safe_open.open_file(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def _move_aside(self, reason: str) -> None:
        try:
            self.report(move_aside(self.path, reason))
        except FileNotFoundError:
            pass

    def remove(self) -> None:
        """The conversation is gone (deleted or renamed): so is its index."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _id_key(message_id: str) -> bytes:
    return message_id.encode("utf-8")[:16]


def _entry(offset: int, message_id: str, marker: object) -> bytes:
    return ENTRY.pack(offset, _id_key(message_id), MARKERS.get(marker, 0) if isinstance(marker, str) else 0)
