"""The runner's index of the live task records (`.oboto/tasks/<id>.json`), kept in memory.

It is built once, by one pass over the folder (in a thread, while the runner already executes what is spawned:
reads wait for the build in `settled`, and a change reported meanwhile is read at once and again after it), and
then kept current from the one record each change names: the runner's own writes hand it what they wrote, and
another process's write is read once, when the watcher reports its file. What the runner needs per event (the queue,
cancel requests, unposted notices, the records that were running) comes from here, so the cost of an event does
not grow with the number of records. It holds a few fields per record, not the records themselves.

Those fields are kept, with each file's stamp, in `.oboto/tasks/index.snapshot` (derived data, written atomically
when a build read any record, after a retention pass and when a runner whose index changed stops): a starting
runner trusts an entry while the record's file still has that stamp and reads only the rest, so a start lists and
stats the folder instead of reading every record, and a snapshot left stale by a crash costs only what changed
since. One that does not parse is moved aside and reported, and the index is built from the records.
"""

from __future__ import annotations

import os
import re
import threading
from stat import S_ISREG
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

import orjson

from oboto.core import safe_open
from oboto.core.atomic import atomic_write_bytes
from oboto.core.events import FileQuarantined
from oboto.core.quarantine import move_aside
from oboto.services.task_models import FINAL_STATUSES, TASK_ID_PATTERN, TaskRecord

Stamp = tuple[int, int, int]
"""(inode, size, mtime_ns) of a record file: a replace by anyone changes it."""

SNAPSHOT_NAME = "index.snapshot"
SNAPSHOT_FORMAT = 2
"""Each entry one flat array of numbers and short strings, as IndexedTask holds it: decoding needs no conversion."""
_STATUSES = frozenset(TaskRecord.model_fields["status"].annotation.__args__)  # type: ignore[union-attr]


def file_stamp(stat: os.stat_result) -> Stamp:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """A record's time as whole microseconds since the epoch (exact, unlike a float timestamp)."""
    return (moment - _EPOCH) // _MICROSECOND


_RECORD_NAME = re.compile(TASK_ID_PATTERN.removesuffix("$") + r"\.json$")
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
"""A link is not followed and a FIFO does not block: either is read the careful way, which moves it aside."""


def record_id(path: Path) -> str | None:
    """The task id a path in the tasks folder is the record of, if it is one."""
    return path.name[:-5] if _RECORD_NAME.match(path.name) else None


class IndexedTask(NamedTuple):
    """What the runner needs to know of a record without reading it: a flat tuple of numbers and short strings,
    as the snapshot stores it (a start makes 100,000 of them)."""

    id: str
    status: str
    created_us: int
    finished_us: int | None
    notice_posted: bool
    cancel_requested: bool
    inode: int
    size: int
    mtime_ns: int

    @property
    def stamp(self) -> Stamp:
        return self.inode, self.size, self.mtime_ns

    @classmethod
    def of(cls, record: TaskRecord, stamp: Stamp) -> "IndexedTask":
        return cls(record.id, record.status, micros(record.created_at),
                   micros(record.finished_at) if record.finished_at else None, record.notice_posted,
                   record.cancel_requested, *stamp)

    @classmethod
    def parsed(cls, raw: bytes, task_id: str, stamp: Stamp) -> "IndexedTask | None":
        """From a record's bytes without validating the whole record (the rebuild reads every file); None when
        it does not look like a record, so the caller reads it the careful way (which moves a corrupt one aside)."""
        try:
            data = orjson.loads(raw)
            status, finished = data["status"], data.get("finished_at")
            if data["id"] != task_id or status not in _STATUSES:
                return None
            return cls(task_id, status, micros(datetime.fromisoformat(data["created_at"])),
                       micros(datetime.fromisoformat(finished)) if finished else None,
                       bool(data.get("notice_posted")), bool(data.get("cancel_requested")), *stamp)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


class TaskIndex:
    """The live records by id and by status; thread-safe (the TUI changes tasks from worker threads)."""

    def __init__(self, tasks_dir: Path, read: Callable[[Path], TaskRecord | None],
                 report: Callable[[FileQuarantined], None]) -> None:
        self.tasks_dir = tasks_dir
        self.snapshot_path = tasks_dir / SNAPSHOT_NAME
        self._read = read
        """Reads and validates one record, moving a corrupt file aside (None: missing or moved aside)."""
        self._report = report
        self._entries: dict[str, IndexedTask] = {}
        self._by_status: dict[str, set[str]] = defaultdict(set)
        self._unposted: set[str] = set()
        self._lock = threading.RLock()
        self.ready = False
        """Built, and kept current from then on (only the runner keeps one)."""
        self._building = False
        self._settled = threading.Event()
        """Set while no build is under way (a runner executes work while its index is still being built)."""
        self._settled.set()
        self._unsaved = False
        """The index holds what the snapshot does not (a stop writes it only then: 100,000 entries take a second)."""
        self._changed_while_building: set[Path] = set()

    # ----- building ----------------------------------------------------------------------------

    def begin_build(self) -> None:
        """From now on, until `rebuild` ends, changes are re-checked after it and reads wait for it."""
        with self._lock:
            self._building, self.ready = True, False
            self._settled.clear()
            self._changed_while_building.clear()

    def rebuild(self) -> None:
        """Index every record (blocking: call it in a thread): from the snapshot where a record's file still has
        the stamp it holds, else by reading the record. Changes reported since `begin_build` (called here unless
        the caller did) are re-checked."""
        with self._lock:
            if not self._building:
                self.begin_build()
        entries: dict[str, IndexedTask] = {}
        read_any = False
        try:
            known = self._load_snapshot()
            with safe_open.folder(self.tasks_dir) as folder:
                for found in os.scandir(folder):
                    if not _RECORD_NAME.match(found.name):
                        continue
                    entry = known.get(found.name[:-5])
                    if entry is None or not _still(found, entry):
                        entry, read_any = self._first_read(folder, found.name), True
                    if entry is not None:
                        entries[entry.id] = entry
            with self._lock:
                self._entries.clear()
                self._by_status.clear()
                self._unposted.clear()
                for entry in entries.values():
                    self._add(entry)
                self.ready = True
                self._unsaved = read_any or len(entries) != len(known)
                changed, self._changed_while_building = self._changed_while_building, set()
        finally:
            with self._lock:
                self._building = False
                self._settled.set()
        for path in changed:
            self.refresh(path)
        if self._unsaved:
            self.save_snapshot()

    def settled(self) -> bool:
        """Whether the index can answer (False: only a runner keeps one), once a build under way has ended: a
        runner's first seconds wait for it here instead of reading every record."""
        self._settled.wait()
        return self.ready

    def _load_snapshot(self) -> dict[str, IndexedTask]:
        """The snapshot's entries by id (none when there is none); a damaged one is moved aside and reported."""
        try:
            raw = safe_open.read_bytes(self.snapshot_path)
        except FileNotFoundError:
            return {}
        except OSError as error:
            self._report(move_aside(self.snapshot_path, f"cannot be read ({error.strerror or error})"))
            return {}
        try:
            return decode_snapshot(raw)
        except ValueError as damage:
            self._report(move_aside(self.snapshot_path, f"is not a task index snapshot ({damage})"))
            return {}

    def save_snapshot(self) -> None:
        """Write the index as it is now to the snapshot (blocking: the runner calls it in a thread or on stop)."""
        with self._lock:
            if not self.ready:
                return
            entries, self._unsaved = list(self._entries.values()), False
        atomic_write_bytes(self.snapshot_path, encode_snapshot(entries))

    def _first_read(self, folder: int, name: str) -> IndexedTask | None:
        """One record by the shortest path (the rebuild reads them all); anything odd is read the careful way."""
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=folder)
        except FileNotFoundError:
            return None
        except OSError:
            return self._careful_read(self.tasks_dir / name)
        try:
            stat = os.fstat(fd)
            raw = os.read(fd, stat.st_size + 1) if S_ISREG(stat.st_mode) else b""
        finally:
            os.close(fd)
        parsed = IndexedTask.parsed(raw, name[:-5], file_stamp(stat)) if len(raw) == stat.st_size else None
        return parsed or self._careful_read(self.tasks_dir / name)

    def _careful_read(self, path: Path) -> IndexedTask | None:
        try:
            stamp = file_stamp(os.stat(path, follow_symlinks=False))
        except FileNotFoundError:
            return None
        record = self._read(path)
        return IndexedTask.of(record, stamp) if record is not None else None

    # ----- keeping current ---------------------------------------------------------------------

    def refresh(self, path: Path) -> IndexedTask | None:
        """Bring one record up to date after the watcher reported its file: read only if someone else wrote it.
        Returns its entry (None when it is gone or was moved aside). While the index is being built the record
        is read and its entry returned, so the runner acts on it at once, and it is looked at again once built."""
        task_id = record_id(path)
        if task_id is None:
            return None
        with self._lock:
            building = self._building
            if building:
                self._changed_while_building.add(path)
            elif not self.ready:
                return None
            known = self._entries.get(task_id)
        if building:
            return self._careful_read(path)
        try:
            stamp = file_stamp(os.stat(path, follow_symlinks=False))
        except FileNotFoundError:
            self.remove(task_id)
            return None
        if known is not None and known.stamp == stamp:
            return known
        record = self._read(path)
        with self._lock:
            self._drop(task_id)
            if record is None:
                return None
            entry = IndexedTask.of(record, stamp)
            self._add(entry)
            return entry

    def put(self, record: TaskRecord, written: os.stat_result) -> None:
        """The process itself wrote `record` (its file's stat right after the write, still under its lock)."""
        with self._lock:
            if self._building:
                self._changed_while_building.add(self.tasks_dir / f"{record.id}.json")
            elif self.ready:
                self._drop(record.id)
                self._add(IndexedTask.of(record, file_stamp(written)))

    def close(self) -> None:
        """The runner stopped: its last state goes to the snapshot, and as nobody feeds the index any more, nothing
        may be read from it."""
        if self._unsaved:
            self.save_snapshot()
        with self._lock:
            self.ready = False
            self._entries.clear()
            self._by_status.clear()
            self._unposted.clear()

    def remove(self, task_id: str) -> None:
        with self._lock:
            self._drop(task_id)

    def _add(self, entry: IndexedTask) -> None:
        self._unsaved = True
        self._entries[entry.id] = entry
        self._by_status[entry.status].add(entry.id)
        if entry.status in FINAL_STATUSES and not entry.notice_posted:
            self._unposted.add(entry.id)

    def _drop(self, task_id: str) -> None:
        entry = self._entries.pop(task_id, None)
        if entry is not None:
            self._unsaved = True
            self._by_status[entry.status].discard(task_id)
            self._unposted.discard(task_id)

    # ----- reading -----------------------------------------------------------------------------

    def ids(self, statuses: Iterable[str] | None = None) -> list[str]:
        """The ids in `statuses` (all when None), oldest first."""
        with self._lock:
            if statuses is None:
                chosen = list(self._entries.values())
            else:
                chosen = [self._entries[task_id] for status in set(statuses) for task_id in self._by_status[status]]
        return [entry.id for entry in sorted(chosen, key=_age)]

    def unposted(self) -> list[str]:
        """Finished records whose conversation has not been told yet, oldest first."""
        with self._lock:
            chosen = [self._entries[task_id] for task_id in self._unposted]
        return [entry.id for entry in sorted(chosen, key=_age)]

    def finished_before(self, cutoff: datetime) -> list[IndexedTask]:
        """Finished records, their notice posted, that ended before `cutoff` (a retention pass, not an event)."""
        before = micros(cutoff)
        with self._lock:
            return [entry for entry in self._entries.values()
                    if entry.status in FINAL_STATUSES and entry.notice_posted
                    and (entry.finished_us or entry.created_us) < before]

    def status(self, task_id: str) -> str | None:
        """The state the index holds for `task_id` (None when it holds no record of it)."""
        with self._lock:
            entry = self._entries.get(task_id)
        return entry.status if entry is not None else None

    def counts(self) -> dict[str, int]:
        """How many live records are in each state."""
        with self._lock:
            return {status: len(ids) for status, ids in self._by_status.items() if ids}

    def __len__(self) -> int:
        return len(self._entries)



def _still(found: os.DirEntry[str], entry: IndexedTask) -> bool:
    """The record's file is still a regular file with the entry's stamp (not followed if it is a link)."""
    try:
        stat = found.stat(follow_symlinks=False)
    except FileNotFoundError:
        return False
    return S_ISREG(stat.st_mode) and file_stamp(stat) == entry.stamp


def _age(entry: IndexedTask) -> tuple[int, str]:
    return entry.created_us, entry.id


def encode_snapshot(entries: Iterable[IndexedTask]) -> bytes:
    return orjson.dumps({"format": SNAPSHOT_FORMAT, "entries": [list(entry) for entry in entries]})


def decode_snapshot(raw: bytes) -> dict[str, IndexedTask]:
    """The entries by id; ValueError, saying what is wrong, when `raw` is not a snapshot of this format."""
    try:
        data = orjson.loads(raw)
        if data["format"] != SNAPSHOT_FORMAT:
            raise ValueError(f"its format is {data['format']!r}, not {SNAPSHOT_FORMAT}")
        entries = {}
        make = IndexedTask._make
        for row in data["entries"]:
            task_id, status, created, finished, posted, cancel, inode, size, mtime = row
            if (status not in _STATUSES or type(task_id) is not str
                    or not type(created) is type(inode) is type(size) is type(mtime) is int
                    or not (finished is None or type(finished) is int) or not type(posted) is type(cancel) is bool):
                raise ValueError(f"its entry for {task_id!r} is not one")
            entries[task_id] = make(row)
        return entries
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"it does not parse: {error}") from None
