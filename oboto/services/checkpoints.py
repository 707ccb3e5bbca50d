"""CheckpointService: checkpoints around every turn, task and shell command; the changes between them; undo.

A change is a (before, after) pair of checkpoints of the workspace's files. A turn's or task's change lists
only the files its own tools wrote or its own shell commands changed, so work going on beside it (the person,
another agent) is never filed under it. Every git call blocks, so the async entry point runs them in a thread;
a checkpoint that fails never fails the turn, it publishes a warning.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import AsyncIterator, Callable, TypeVar

import orjson
from pydantic import ValidationError

from oboto.core.bus import EventBus
from oboto.core.config import CheckpointSettings
from oboto.core.errors import RequestRefused
from oboto.core.events import ChangeRecorded, Event, FileQuarantined, WorkspaceWarning
from oboto.core.locks import locked
from oboto.core.models import utc_now
from oboto.core.paths import WorkspacePaths
from oboto.core.quarantine import move_aside, open_repairing, real_folder
from oboto.services.change_models import (
    CHANGE_ID_PATTERN,
    Change,
    ChangeAuthor,
    FileChange,
    SkippedFile,
    new_change_id,
)
from oboto.services.checkpoint_repo import (
    CHANGE_REFS,
    OPEN_REFS,
    CheckpointRepo,
    DiffEntry,
    GitFailed,
    GitMissing,
    Snapshot,
)
from oboto.services.restore import changed_since, restore

T = TypeVar("T")
PRUNE_EVERY_SECONDS = 24 * 3600
EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
IGNORED_REASON = "ignored (.gitignore, .obotoignore or the global excludes), so not checkpointed"


class ChangeError(RequestRefused):
    """A change that does not exist, or a request about changes that cannot be done."""


class NothingToUndo(RequestRefused):
    """There is no change (or no undo, for a redo) to take back."""


class UndoRefused(RequestRefused):
    """Files the change touched were changed again since; undoing would overwrite that work."""

    def __init__(self, change: Change, conflicts: list[str]) -> None:
        self.change = change
        self.conflicts = conflicts
        super().__init__(
            f"{len(conflicts)} file(s) changed since {change.id} ({change.who}): {', '.join(conflicts)}; "
            f"nothing was undone (add --force to overwrite them)"
        )


@dataclass
class UndoResult:
    target: Change
    change: Change | None
    """The undo itself, recorded as a change (None when every file already was as before)."""
    restored: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    """Files changed since the target that --force overwrote."""

    def headline(self) -> str:
        """What was done, in one sentence for the person (the CLI prints it, the TUI shows it as a notice)."""
        target = self.target
        if not self.restored:
            return f"Every file {target.id} touched is already as it was before it; nothing to do."
        verb = "Redid" if target.kind == "undo" else "Undid"
        return f"{verb} {target.id} ({target.who}): restored {len(self.restored)} file(s): {', '.join(self.restored)}"

    def not_restored(self) -> str | None:
        """The target's files that no checkpoint held (so nothing could put them back), each with why."""
        if not self.target.skipped:
            return None
        return "; ".join(f"{file.path} ({file.reason})" for file in self.target.skipped)


class OpenChange:
    """A change being recorded; tools report into it through `agent.changes.ChangeScope`."""

    def __init__(self, service: "CheckpointService", author: ChangeAuthor, parent: "OpenChange | None",
                 tool_call_id: str | None) -> None:
        self.service = service
        self.author = author
        self.parent = parent
        self.id = new_change_id()
        self.started_at = utc_now()
        self.before: str | None = None
        self.before_snapshot: Snapshot | None = None
        self.paths: set[str] = set()
        self.tool_call_ids: list[str] = [tool_call_id] if tool_call_id else []
        self.recorded: Change | None = None
        self.begun: asyncio.Future[None] | None = None
        self.lists_everything = author.kind == "exec"
        """Whether every file that changed in its window is its own: a shell command's change has no finer
        evidence than the checkpoints, and neither has a turn one of whose shell commands was not checkpointed."""

    async def ready(self) -> None:
        if self.begun is None:  # taken at the first write: work that writes nothing costs no checkpoint
            self.begun = asyncio.ensure_future(self.service._step(self.service._begin, self, "before"))
        await asyncio.shield(self.begun)

    def wrote(self, path: str, tool_call_id: str | None) -> None:
        self.paths.add(path)
        if tool_call_id and tool_call_id not in self.tool_call_ids:
            self.tool_call_ids.append(tool_call_id)

    @asynccontextmanager
    async def around_program(self, tool_call_id: str | None, tool: str) -> AsyncIterator["OpenChange"]:
        await self.ready()  # what the command changes is this change's too: its before must come first
        async with self.service.around(self.author.program(tool), parent=self, tool_call_id=tool_call_id) as child:
            await child.ready()  # the command must not start before its own before checkpoint
            yield child

    def absorb(self, child: Change) -> None:
        """A shell command inside this change finished: its files are this change's files too."""
        self.paths.update(child.touched())
        self.paths.update(file.path for file in child.skipped)
        for call_id in child.tool_call_ids:
            if call_id not in self.tool_call_ids:
                self.tool_call_ids.append(call_id)


class CheckpointService:
    """The only writer of `.oboto/checkpoints/`."""

    def __init__(self, paths: WorkspacePaths, settings: CheckpointSettings, bus: EventBus) -> None:
        self.paths = paths
        self.settings = settings
        self.bus = bus
        self.repo = CheckpointRepo(paths.root, paths.checkpoints_dir, max_file_bytes=settings.max_file_bytes,
                                   obotoignore=paths.obotoignore)
        self._unavailable: str | None = None if settings.enabled else "checkpoints are off (checkpoints.enabled)"
        self._bad_records: set[str] = set()
        self._outbox: deque[Event] = deque()
        """Events of work done in worker threads, published by the caller once the work is over."""

    # ----- recording (turns, tasks, shell commands) ---------------------------------------------

    @asynccontextmanager
    async def around(self, author: ChangeAuthor, *, parent: OpenChange | None = None,
                     tool_call_id: str | None = None) -> AsyncIterator[OpenChange]:
        """Checkpoint before the body's first write and after the body; the change (if any file changed) is
        recorded on the way out.

        Tools that write ask for the before checkpoint through `OpenChange.ready()` and wait for it; a body
        that never writes (most reading turns and background checks) takes no checkpoint at all.
        """
        change = OpenChange(self, author, parent, tool_call_id)
        try:
            yield change
        finally:
            if change.begun is not None:
                await asyncio.wait([change.begun])
                await self._step(self._finish, change, "after")
                if parent is not None and change.before is None:
                    parent.lists_everything = True

    async def _step(self, action: Callable[[OpenChange], None], change: OpenChange, when: str) -> None:
        if self._unavailable is not None or (when == "after" and change.before is None):
            return
        work = asyncio.ensure_future(asyncio.to_thread(self._guarded, action, change, when))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            await asyncio.wait([work])  # a git call cannot be interrupted; let it leave the store consistent
            raise
        finally:
            self._flush()

    def _guarded(self, action: Callable[[OpenChange], None], change: OpenChange, when: str) -> None:
        try:
            action(change)
        except GitMissing as missing:
            self._unavailable = str(missing)
            self._outbox.append(WorkspaceWarning(message=f"{missing}; changes cannot be undone"))
        except Exception as failure:  # a checkpoint that fails must never fail the turn it surrounds
            self._outbox.append(WorkspaceWarning(message=f"could not checkpoint {when} the {change.author.who}: "
                                                         f"{failure}; its changes cannot be undone"))

    def _begin(self, change: OpenChange) -> None:
        def begin() -> None:
            snapshot = self.repo.snapshot()
            change.before = self.repo.hold(change.id, snapshot)
            change.before_snapshot = snapshot

        self._in_store(begin)

    def _finish(self, change: OpenChange) -> None:
        record = self._in_store(lambda: self._record(change))
        if record is None:
            return
        change.recorded = record
        if change.parent is not None:
            change.parent.absorb(record)
        self._outbox.append(_recorded(record))

    def _record(self, change: OpenChange, *, within: set[str] | None = None) -> Change | None:
        """Take the after checkpoint and store the change; None (and nothing kept) when nothing changed."""
        assert change.before is not None and change.before_snapshot is not None
        if within is None and not change.lists_everything:
            within = change.paths
        if within is not None and not within:  # nothing of its own was written: no after checkpoint needed
            self.repo.drop(change.id)
            return None
        after = self.repo.snapshot()
        leave_out = change.before_snapshot.skipped_paths | after.skipped_paths
        files = _file_changes(self.repo.diff(change.before, after.tree), within=within, leave_out=leave_out)
        skipped = _changed_skipped(change.before_snapshot, after, within)
        if within is not None:
            unseen = sorted(within - {path for file in files for path in file.states()} - leave_out)
            skipped += [SkippedFile(path=path, reason=IGNORED_REASON) for path in sorted(self.repo.ignored(unseen))]
        if not files and not skipped:
            self.repo.drop(change.id)
            self._maybe_prune()
            return None
        record = Change(
            **change.author.model_dump(), id=change.id, parent=change.parent.id if change.parent else None,
            tool_call_ids=change.tool_call_ids, started_at=change.started_at, finished_at=utc_now(),
            before=change.before, files=files, skipped=skipped,
        )
        record.after = self.repo.record(record, after)
        self._maybe_prune()
        return record

    # ----- the store: lock, corruption, pruning -------------------------------------------------

    def _in_store(self, action: Callable[[], T]) -> T:
        """Run `action` under the store lock; a corrupt store is moved aside and `action` runs on a fresh one."""
        with locked(self.paths.checkpoints_dir) as moved_lock:
            for moved in (moved_lock, real_folder(self.paths.checkpoints_dir, create=False)):
                if moved is not None:
                    self._outbox.append(moved)  # git would write through a link in the store's place
            try:
                self.repo.open()
                return action()
            except GitMissing:
                raise
            except GitFailed as failure:
                if self.repo.is_sound():
                    raise
                self._outbox.append(self._quarantine(str(failure)))
            self.repo.open()
            return action()

    def _quarantine(self, reason: str) -> FileQuarantined:
        return move_aside(self.paths.checkpoints_dir,
                          f"the checkpoint store is damaged ({reason}); a fresh one was started")

    def _maybe_prune(self) -> None:
        marker = self.paths.checkpoints_dir / "oboto-pruned"
        try:
            due = time.time() - os.stat(marker, follow_symlinks=False).st_mtime > PRUNE_EVERY_SECONDS
        except FileNotFoundError:
            _touch(marker)
            return
        if due:
            self._prune(utc_now())
            _touch(marker)

    def prune(self, now: datetime | None = None) -> int:
        """Delete changes older than `checkpoints.retention_days` and the files only they kept; returns how many."""
        return self._sync(lambda: self._prune(now or utc_now()))

    def _prune(self, now: datetime) -> int:
        cutoff = now - timedelta(days=self.settings.retention_days)
        expired = [CHANGE_REFS + change.id for change in self._load_records() if change.finished_at < cutoff]
        abandoned = [OPEN_REFS + change_id for change_id, stamp in self.repo.open_refs() if stamp < cutoff.timestamp()]
        self.repo.delete_refs(expired + abandoned)
        self.repo.collect_garbage()
        return len(expired)

    def _flush(self) -> None:
        while self._outbox:
            self.bus.publish(self._outbox.popleft())

    def _sync(self, action: Callable[[], T]) -> T:
        """Run a request of the CLI or a TUI worker; git failures become a refusal with the reason."""
        try:
            return self._in_store(action)
        except GitFailed as failure:
            raise ChangeError(str(failure)) from None
        finally:
            self._flush()

    # ----- reading ------------------------------------------------------------------------------

    def _load_records(self) -> list[Change]:
        changes = []
        for commit, raw in self.repo.records():
            try:
                change = Change.model_validate({**orjson.loads(raw), "after": commit})
            except (orjson.JSONDecodeError, ValidationError, ValueError):
                if commit not in self._bad_records:
                    self._bad_records.add(commit)
                    self._outbox.append(WorkspaceWarning(
                        message=f"checkpoint {commit[:12]} has an unreadable record; it is left out of the list"))
                continue
            changes.append(change)
        return sorted(changes, key=lambda change: (change.finished_at, change.started_at))

    def changes(self, *, conversation: str | None = None, task_id: str | None = None, message_id: str | None = None,
                tool_call_id: str | None = None) -> list[Change]:
        """Recorded changes, oldest first, of one conversation's turns, one task, one turn or one tool call."""
        if not self.paths.checkpoints_dir.exists():
            return []
        found = self._sync(self._load_records)
        if conversation is not None:
            found = [change for change in found if change.conversation == conversation.lower()]
        if task_id is not None:
            found = [change for change in found if change.task_id == task_id]
        if message_id is not None:
            found = [change for change in found if change.message_id == message_id]
        if tool_call_id is not None:
            found = [change for change in found if tool_call_id in change.tool_call_ids]
        return found

    def undone_by(self, changes: list[Change] | None = None) -> dict[str, str]:
        """For every change that is undone now, the undo that did it (an undo that was redone does not count)."""
        changes = self.changes() if changes is None else changes
        by_target: dict[str, list[Change]] = {}
        for change in changes:
            if change.undoes:
                by_target.setdefault(change.undoes, []).append(change)
        undone: dict[str, str] = {}
        for change in reversed(changes):  # undos always come after what they undo
            live = [undo.id for undo in by_target.get(change.id, []) if undo.id not in undone]
            if live:
                undone[change.id] = live[-1]
        return undone

    def get(self, change_id: str, changes: list[Change] | None = None) -> Change:
        if not isinstance(change_id, str) or re.fullmatch(CHANGE_ID_PATTERN, change_id) is None:
            raise ChangeError(f"{change_id!r} is not a change id (they look like c-1a2b3c4d)")
        for change in self.changes() if changes is None else changes:
            if change.id == change_id:
                return change
        raise ChangeError(f"no change with id {change_id} (oboto changes lists them)")

    def diff(self, change_id: str, path: str | None = None, *, color: bool = False,
             changes: list[Change] | None = None) -> str:
        """The unified diff of a change, or of one of its files (both sides of a rename).

        `changes`: the list already read, so diffs of several changes cost one read of the records.
        """
        change = self.get(change_id, changes)
        paths = sorted(change.touched())
        if path is not None:
            wanted = path.strip().removeprefix("./")
            if wanted not in paths:
                raise ChangeError(f"{change_id} did not change {path}; it changed: {', '.join(paths) or 'no files'}")
            paths = sorted(next(file.states() for file in change.files if wanted in file.states()))
        return self._sync(lambda: self.repo.unified_diff(change.before, change.after, paths, color=color))

    # ----- undo and redo ------------------------------------------------------------------------

    def undo(self, change_id: str | None = None, *, conversation: str | None = None, task_id: str | None = None,
             force: bool = False, by: str = "oboto undo") -> UndoResult:
        """Put every file a change touched back as it was (default: the latest change of the conversation or task)."""
        changes = self.changes()
        undone = self.undone_by(changes)
        if change_id is not None:
            target = self.get(change_id, changes)
        else:
            target = self._latest(changes, undone, ("turn", "task"), conversation, task_id, "undo")
        if target.id in undone:
            raise NothingToUndo(f"{target.id} was already undone by {undone[target.id]} "
                                f"(oboto undo {undone[target.id]} puts it back)")
        return self._revert(target, force=force, by=by)

    def redo(self, *, conversation: str | None = None, task_id: str | None = None, force: bool = False,
             by: str = "oboto redo") -> UndoResult:
        """Undo the latest undo that is still in effect."""
        changes = self.changes()
        target = self._latest(changes, self.undone_by(changes), ("undo",), conversation, task_id, "redo")
        return self._revert(target, force=force, by=by)

    def _latest(self, changes: list[Change], undone: dict[str, str], kinds: tuple[str, ...], conversation: str | None,
                task_id: str | None, verb: str) -> Change:
        if task_id is None and conversation is None:
            conversation = "chat"
        candidates = [
            change for change in changes
            if change.kind in kinds and change.parent is None and change.id not in undone
            and (task_id is None or change.task_id == task_id)
            and (conversation is None or change.conversation == conversation.lower())
        ]
        if not candidates:
            where = f"task {task_id}" if task_id else f"conversation {conversation}"
            raise NothingToUndo(f"nothing to {verb} in {where}")
        return candidates[-1]

    def _revert(self, target: Change, *, force: bool, by: str) -> UndoResult:
        author = ChangeAuthor.reverting(target, by)
        result = UndoResult(target=target, change=None)

        def revert() -> None:
            change = OpenChange(self, author, None, None)
            snapshot = self.repo.snapshot()
            conflicts = changed_since(self.repo, target, snapshot)
            if conflicts and not force:
                raise UndoRefused(target, conflicts)
            result.overwritten = conflicts
            wanted = {path: before for path, (before, _after) in target.touched().items()}
            contents = self.repo.blobs([state.blob for state in wanted.values() if state is not None])
            change.before = self.repo.hold(change.id, snapshot)
            change.before_snapshot = snapshot
            result.restored, result.failures = restore(self.paths.root, wanted, contents)
            result.change = self._record(change, within=set(result.restored))

        try:
            self._in_store(revert)
        except GitFailed as failure:
            raise ChangeError(f"could not undo {target.id}: {failure}") from None
        finally:
            self._flush()
        if result.change is not None:
            self.bus.publish(_recorded(result.change))
        return result


def _touch(marker: Path) -> None:
    """Make the marker's time now, never through a link in its place."""
    fd, _moved = open_repairing(marker, os.O_WRONLY | os.O_CREAT)  # a link there is moved aside, not followed
    try:
        os.utime(fd)
    finally:
        os.close(fd)


def _recorded(change: Change) -> ChangeRecorded:
    return ChangeRecorded(change_id=change.id, change_kind=change.kind, conversation=change.conversation,
                          task_id=change.task_id, message_id=change.message_id, undoes=change.undoes,
                          files=len(change.files))


def _file_changes(entries: list[DiffEntry], *, within: set[str] | None, leave_out: set[str]) -> list[FileChange]:
    """The diff as file changes, limited to `within`, with a deleted file re-added unchanged shown as a rename."""
    kept = [entry for entry in entries if entry.path not in leave_out and (within is None or entry.path in within)]
    deleted: dict[tuple[str, str], list[DiffEntry]] = {}
    for entry in kept:
        if entry.after is None and entry.before is not None and entry.before.blob != EMPTY_BLOB:
            deleted.setdefault((entry.before.blob, entry.before.mode), []).append(entry)
    renamed_from: dict[str, DiffEntry] = {}
    for entry in kept:
        if entry.before is None and entry.after is not None and deleted.get((entry.after.blob, entry.after.mode)):
            renamed_from[entry.path] = deleted[(entry.after.blob, entry.after.mode)].pop(0)
    gone = {source.path for source in renamed_from.values()}
    files = []
    for entry in kept:
        if entry.path in gone:
            continue
        source = renamed_from.get(entry.path)
        if source is not None:
            files.append(FileChange(path=entry.path, status="renamed", old_path=source.path, before=source.before,
                                    after=entry.after, added_lines=0, deleted_lines=0))
            continue
        status = "added" if entry.before is None else "deleted" if entry.after is None else "modified"
        files.append(FileChange(path=entry.path, status=status, before=entry.before, after=entry.after,
                                added_lines=entry.added_lines, deleted_lines=entry.deleted_lines))
    return files


def _changed_skipped(before: Snapshot, after: Snapshot, within: set[str] | None) -> list[SkippedFile]:
    """Files left out of the checkpoints that appeared, changed or went away during the change."""
    earlier = {file.path: file for file in before.skipped}
    result = []
    for file in after.skipped:
        previous = earlier.pop(file.path, None)
        if previous is None or (previous.size, previous.mtime_ns) != (file.size, file.mtime_ns):
            result.append(file)
    result += earlier.values()
    return sorted((file for file in result if within is None or file.path in within), key=lambda file: file.path)
