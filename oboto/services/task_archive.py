"""Retired task records: `.oboto/tasks/archive/<YYYY-MM>.jsonl`, one line per task, append-only.

A line holds the record, its output log and its agent's history, so nothing is lost when the live files go. A
batch of lines is one write followed by an fsync, under the month's lock; the live files are removed only after
that, so a crash at any instant leaves every task in the live folder, in the archive, or (between the two steps)
in both, which the next retention pass settles by removing the live copy. A write cut short by a crash leaves a
torn last line: readers skip it and the next writer cuts it off (its tasks are still in the live folder).
"""

from __future__ import annotations

import io
import os
import re
from contextlib import ExitStack
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from oboto.core import safe_open
from oboto.core.archive_file import append_lines
from oboto.core.events import Event, WorkspaceWarning
from oboto.core.locks import locked
from oboto.core.models import utc_now
from oboto.core.paths import WorkspacePaths
from oboto.core.store import load_document
from oboto.services.task_history import TaskHistory
from oboto.services.task_models import TaskRecord

ARCHIVE_VERSION = 1
MONTH_PATTERN = re.compile(r"^\d{4}-\d{2}\.jsonl$")
# Lines start with their id (orjson keeps the key order), so a lookup parses only the line it wants.
_ID_PREFIX = re.compile(rb'^\{"id":"(t-[0-9a-f]{8})"')
RETIRE_BATCH = 200
"""Records moved per archive write (each holds its lock until its live files are gone)."""


def archive_month(record: TaskRecord) -> str:
    """The month a finished record is archived under: when it ended (UTC)."""
    return f"{(record.finished_at or record.created_at):%Y-%m}"


def archive_line(record: dict[str, Any], log: bytes, history: list[dict[str, Any]] | None) -> bytes:
    """One task as an archive line (the record as stored, so fields of newer versions are kept)."""
    return orjson.dumps({"id": record["id"], "version": ARCHIVE_VERSION, "archived_at": utc_now().isoformat(),
                         "record": record, "log": log.decode("utf-8", errors="replace"), "history": history}) + b"\n"


class ArchivedTask:
    """A task read back from the archive."""

    def __init__(self, record: TaskRecord, log: str, history: list[dict[str, Any]] | None) -> None:
        self.record = record
        self.log = log
        self.history = history


class TaskArchive:
    """The monthly archive files; the TaskManager is their only writer."""

    def __init__(self, folder: Path, report: Callable[[Event], None]) -> None:
        self.folder = folder
        self.report = report

    def path(self, month: str) -> Path:
        return self.folder / f"{month}.jsonl"

    def months(self) -> list[str]:
        """Months with an archive file, newest first."""
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        return sorted((name.removesuffix(".jsonl") for name in names if MONTH_PATTERN.match(name)), reverse=True)

    # ----- writing -----------------------------------------------------------------------------

    def append(self, month: str, lines: list[bytes]) -> None:
        """Add `lines` to the month's file, durably, in one write (a torn tail left by a crash is cut off first)."""
        append_lines(self.path(month), lines, self.report, entry="task")

    # ----- reading -----------------------------------------------------------------------------

    def ids(self, month: str) -> set[str]:
        """The ids archived in one month (whole lines only)."""
        return {task_id for task_id, _line in self._lines(month)}

    def find(self, task_id: str) -> ArchivedTask | None:
        """The archived task with `task_id`, looking at the newest months first."""
        for month in self.months():
            for found_id, line in self._lines(month):
                if found_id == task_id and (task := self._parse(month, line)) is not None:
                    return task
        return None

    def records(self) -> Iterator[TaskRecord]:
        """Every archived record (`tasks list --all`)."""
        for month in self.months():
            for _task_id, line in self._lines(month):
                if (task := self._parse(month, line)) is not None:
                    yield task.record

    def _lines(self, month: str) -> Iterator[tuple[str, bytes]]:
        try:
            data = safe_open.read_bytes(self.path(month))
        except FileNotFoundError:
            return
        for line in io.BytesIO(data):
            if not line.endswith(b"\n"):
                return  # a torn tail: its task is still live
            if (match := _ID_PREFIX.match(line)) is not None:
                yield match.group(1).decode(), line

    def _parse(self, month: str, line: bytes) -> ArchivedTask | None:
        try:
            entry = orjson.loads(line)
            return ArchivedTask(TaskRecord.model_validate(entry["record"]), entry.get("log") or "",
                                entry.get("history"))
        except (orjson.JSONDecodeError, ValidationError, KeyError, TypeError) as error:
            self.report(WorkspaceWarning(message=f"archive {month}.jsonl: an entry cannot be read ({error}); "
                                                 "it was skipped"))
            return None


    # ----- retiring live records ---------------------------------------------------------------

    def retire(self, paths: WorkspacePaths, task_ids: list[str], cutoff: datetime,
               load: Callable[[Path], TaskRecord | None]) -> list[str]:
        """Move the records of `task_ids` that are still finished before `cutoff` (checked again under their
        locks), with their logs and histories, into the archive; returns the ids that left the live folder."""
        retired: list[str] = []
        for start in range(0, len(task_ids), RETIRE_BATCH):
            retired += self._retire_batch(paths, task_ids[start:start + RETIRE_BATCH], cutoff, load)
        return retired

    def _retire_batch(self, paths: WorkspacePaths, task_ids: list[str], cutoff: datetime,
                      load: Callable[[Path], TaskRecord | None]) -> list[str]:
        with ExitStack() as held:
            by_month: dict[str, list[TaskRecord]] = {}
            for task_id in task_ids:
                path = paths.task_record(task_id)
                if (moved_lock := held.enter_context(locked(path))) is not None:
                    self.report(moved_lock)
                record = load(path)
                if record is not None and finished_before(record, cutoff):
                    by_month.setdefault(archive_month(record), []).append(record)
            for month, records in by_month.items():
                archived = self.ids(month)  # a move a crash interrupted: already archived, only the live copy is left
                lines = [self._line(paths, record) for record in records if record.id not in archived]
                if lines:
                    self.append(month, lines)
            retired = [record.id for records in by_month.values() for record in records]
            _remove_live_files(paths, retired)
        return retired

    def _line(self, paths: WorkspacePaths, record: TaskRecord) -> bytes:
        try:
            log = safe_open.read_bytes(paths.task_log(record.id))
        except FileNotFoundError:
            log = b""
        except OSError as error:
            log = f"(the output log could not be read when the task was archived: {error})".encode()
        history = load_document(paths.task_history(record.id), TaskHistory, None)
        return archive_line(record.model_dump(mode="json"), log, history.messages if history else None)


def _remove_live_files(paths: WorkspacePaths, task_ids: list[str]) -> None:
    """Remove the live files of archived tasks, records first: once its record is gone a task is found in the
    archive, so a crash part-way leaves at most a log or history nobody reads, never a record without its log."""
    if not task_ids:
        return
    kinds = (paths.task_record, paths.task_log, paths.task_history)
    for kind in kinds:
        for task_id in task_ids:
            try:
                with safe_open.parent_folder(kind(task_id)) as (fd, name):
                    os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                pass
    for folder in {kind(task_ids[0]).parent for kind in kinds}:
        try:
            safe_open.fsync_folder(folder)
        except FileNotFoundError:
            pass


def finished_before(record: TaskRecord, cutoff: datetime) -> bool:
    """Whether a record may be retired: finished, its notice posted, and ended before `cutoff`."""
    return record.finished and record.notice_posted and (record.finished_at or record.created_at) < cutoff
