"""ConversationManager: named conversations as append-only JSONL files plus an atomic index."""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import orjson
from pydantic import ValidationError

from oboto.core import durable, safe_open
from oboto.core.atomic import atomic_write_bytes, fsync_dir
from oboto.core.bus import EventBus
from oboto.core.errors import RequestRefused
from oboto.core.events import (
    ChildReported,
    ConversationAgentChanged,
    ConversationCreated,
    ConversationDeleted,
    ConversationModelChanged,
    ConversationRenamed,
    ConversationSwitched,
    Event,
    FileQuarantined,
    MessageAppended,
)
from oboto.core.locks import locked
from oboto.core.models import utc_now
from oboto.core.paths import WorkspacePaths
from oboto.core.quarantine import (
    damaged_path,
    describe_unusable,
    move_aside,
    open_repairing,
    quarantine_name,
    real_folder,
)
from oboto.core.store import DocumentTransaction, describe_error, document_transaction, load_document
from oboto.services.conversation_archive import ConversationArchive
from oboto.services.history_index import HistoryIndex, IndexEntry, is_message_line
from oboto.services.streaming_reply import StreamingReply, Writes, write_now
from oboto.services.conversation_models import (
    MAIN_CONVERSATION,
    ConversationIndex,
    ConversationInfo,
    Message,
    normalise_name,
)

T = TypeVar("T")


class ConversationError(RequestRefused):
    """A conversation request that cannot be done (unknown name, name taken, `chat` protected)."""


def _process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _LoadedHistory:
    """What has been read of one JSONL file so far (from `base` on), so later reads only parse the new tail."""

    inode: int
    base: int = 0
    offset: int = 0
    order: list[str] = field(default_factory=list)
    by_id: dict[str, Message] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)
    """Where each message's first line starts, to take only the messages from an offset on."""

    def messages_from(self, offset: int) -> list[Message]:
        return [self.by_id[message_id] for message_id in self.order if self.starts[message_id] >= offset]


@dataclass
class ConversationSummary:
    name: str
    parent: str | None
    message_count: int
    created_at: datetime
    updated_at: datetime
    active: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "parent": self.parent,
            "message_count": self.message_count,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "active": self.active,
        }


class ConversationManager:
    """The only writer of `.oboto/conversations/`; every other part of oboto asks it."""

    def __init__(self, paths: WorkspacePaths, bus: EventBus) -> None:
        self.paths = paths
        self.bus = bus
        self._histories: dict[str, _LoadedHistory] = {}
        # The TUI reads long conversations in a thread worker while its event loop may read them too.
        self._histories_lock = threading.RLock()
        self._live_streams: set[str] = set()
        self._archive = ConversationArchive(paths.conversation_archive_dir, self._report)
        self._report(real_folder(paths.conversations_dir))
        with self._index_transaction() as tx:
            if MAIN_CONVERSATION not in tx.doc.conversations:
                tx.doc.conversations[MAIN_CONVERSATION] = ConversationInfo(name=MAIN_CONVERSATION)
        self._touch(MAIN_CONVERSATION)

    def _report(self, moved: FileQuarantined | None) -> None:
        if moved is not None:
            self.bus.publish(moved)

    def _touch(self, name: str) -> None:
        """Make sure the conversation's file exists (a damaged one is moved aside and a fresh one started)."""
        fd, moved = open_repairing(self.paths.conversation_file(name), os.O_WRONLY | os.O_CREAT)
        os.close(fd)
        self._report(moved)

    # ----- the index -------------------------------------------------------------------------

    @contextmanager
    def _index_transaction(self) -> Iterator[DocumentTransaction[ConversationIndex]]:
        """A change of the index; one that is missing or was quarantined is rebuilt from the JSONL files."""
        with document_transaction(self.paths.conversation_index, ConversationIndex, self.bus,
                                  default=self._rebuild_index) as tx:
            if not tx.found:
                tx.save_unchanged()  # keep the rebuilt index, so the next read need not rebuild it
            yield tx

    def _rebuild_index(self) -> ConversationIndex:
        index = ConversationIndex()
        for path in sorted(self.paths.conversations_dir.glob("*.jsonl")):
            try:
                name = normalise_name(path.stem)
            except ValueError:
                continue
            history = self._refresh(name)
            first = history.by_id[history.order[0]] if history.order else None
            stat = path.stat()
            created = first.created_at if first else utc_now()
            index.conversations[name] = ConversationInfo(
                name=name,
                parent=None if name == MAIN_CONVERSATION else MAIN_CONVERSATION,
                created_at=created,
                updated_at=datetime.fromtimestamp(stat.st_mtime, tz=created.tzinfo),
            )
        return index

    def _index(self) -> ConversationIndex:
        """The index; reading needs no lock (it is replaced atomically), rebuilding it does."""
        index = load_document(self.paths.conversation_index, ConversationIndex, self.bus)
        if index is not None:
            return index
        with self._index_transaction() as tx:
            return tx.doc

    def _require(self, index: ConversationIndex, name: str) -> str:
        name = normalise_name(name)
        if name not in index.conversations:
            known = ", ".join(sorted(index.conversations))
            raise ConversationError(f"no conversation named {name!r} (known: {known})")
        return name

    # ----- create / list / switch / rename / delete --------------------------------------------

    def list(self) -> list[ConversationSummary]:
        """Every conversation; counts come from each one's offset index, times from its file (index.json is not
        rewritten per message)."""
        index = self._index()
        return [
            ConversationSummary(
                name=info.name,
                parent=info.parent,
                message_count=self.message_count(info.name),
                created_at=info.created_at,
                updated_at=self._updated_at(info),
                active=info.name == index.active,
            )
            for info in sorted(index.conversations.values(), key=lambda item: (item.name != MAIN_CONVERSATION, item.name))
        ]

    def message_count(self, name: str) -> int:
        """How many messages `name` has (read from its offset index, not its history)."""
        counts = self._with_history_fd(normalise_name(name), lambda index, fd: index.count(fd))
        return counts if counts is not None else 0

    def _updated_at(self, info: ConversationInfo) -> datetime:
        try:
            stamp = os.stat(self.paths.conversation_file(info.name), follow_symlinks=False).st_mtime
        except FileNotFoundError:
            return info.updated_at
        return max(info.updated_at, datetime.fromtimestamp(stamp, tz=info.updated_at.tzinfo))

    def exists(self, name: str) -> bool:
        try:
            return normalise_name(name) in self._index().conversations
        except ValueError:
            return False

    def info(self, name: str) -> ConversationInfo:
        index = self._index()
        return index.conversations[self._require(index, name)]

    @property
    def active(self) -> str:
        index = self._index()
        return index.active if index.active in index.conversations else MAIN_CONVERSATION

    def create(self, name: str, *, parent: str = MAIN_CONVERSATION, agent: str | None = None) -> ConversationInfo:
        """A new child conversation; `agent` (a profile name the caller has checked) is who answers in it."""
        name = normalise_name(name)
        with self._index_transaction() as tx:
            index = tx.doc
            if name in index.conversations:
                raise ConversationError(f"a conversation named {name!r} already exists")
            parent = self._require(index, parent)
            info = ConversationInfo(name=name, parent=parent, agent=agent)
            self._touch(name)
            index.conversations[name] = info
            tx.publish(ConversationCreated(name=name, parent=parent))
        return info

    def set_agent(self, name: str, agent: str | None) -> ConversationInfo:
        """Change who answers in a conversation (a profile name the caller has checked; None: the default)."""
        return self._change_info(name, {"agent": agent}, lambda found: ConversationAgentChanged(name=found,
                                                                                               agent=agent))

    def set_model(self, name: str, model: str | None) -> ConversationInfo:
        """Change the model of a conversation's turns (a model string the caller has checked; None: the default)."""
        return self._change_info(name, {"model": model}, lambda found: ConversationModelChanged(name=found,
                                                                                               model=model))

    def _change_info(self, name: str, update: dict[str, Any], event: Callable[[str], Event]) -> ConversationInfo:
        with self._index_transaction() as tx:
            name = self._require(tx.doc, name)
            info = tx.doc.conversations[name].model_copy(update=update)
            tx.doc.conversations[name] = info
            tx.publish(event(name))
        return info

    def switch(self, name: str) -> str:
        with self._index_transaction() as tx:
            name = self._require(tx.doc, name)
            tx.doc.active = name
            tx.publish(ConversationSwitched(name=name))
        return name

    def rename(self, old: str, new: str) -> str:
        new = normalise_name(new)
        with self._index_transaction() as tx:
            index = tx.doc
            old = self._require(index, old)
            if old == MAIN_CONVERSATION:
                raise ConversationError("the main conversation 'chat' cannot be renamed")
            if new in index.conversations:
                raise ConversationError(f"a conversation named {new!r} already exists")
            source, target = self.paths.conversation_file(old), self.paths.conversation_file(new)
            with locked(source) as moved_lock:  # the JSONL's append lock: no append lands mid-rename
                try:
                    safe_open.rename_here(source, target.name)
                except FileNotFoundError:
                    self._touch(new)
            if moved_lock is not None:
                tx.publish(moved_lock)
            self._history_index(old).remove()
            info = index.conversations.pop(old)
            info.name = new
            index.conversations[new] = info
            if index.active == old:
                index.active = new
            tx.publish(ConversationRenamed(old=old, new=new))
        self._histories.pop(old, None)
        return new

    def delete(self, name: str) -> None:
        with self._index_transaction() as tx:
            index = tx.doc
            name = self._require(index, name)
            if name == MAIN_CONVERSATION:
                raise ConversationError("the main conversation 'chat' cannot be deleted")
            self.paths.conversation_file(name).unlink(missing_ok=True)
            self._history_index(name).remove()
            fsync_dir(self.paths.conversations_dir)
            del index.conversations[name]
            if index.active == name:
                index.active = MAIN_CONVERSATION
            tx.publish(ConversationDeleted(name=name))
        self._histories.pop(name, None)

    # ----- messages ----------------------------------------------------------------------------

    def messages(self, name: str) -> list[Message]:
        """The conversation's messages in order; a stream whose writer died is marked interrupted."""
        return self._window(normalise_name(name), lambda index, fd: 0)

    def tail(self, name: str, count: int) -> list[Message]:
        """The last `count` messages, read from where the offset index says they start (not the whole file)."""
        if count <= 0:
            return []
        return self._window(normalise_name(name), lambda index, fd: _first_offset(index.entries_from(fd, -count)))

    def turn_messages(self, name: str) -> list[Message]:
        """The messages a turn's history is built from: after the last `context-cleared` marker, from the message
        the newest compaction summary covers up to (what it stands for is not read at all)."""
        name = normalise_name(name)
        return self._window(name, lambda index, fd: index.region_start(
            fd, lambda offset: _compacted_through(fd, offset)))

    def _history_index(self, name: str) -> HistoryIndex:
        return HistoryIndex(self.paths.conversation_file(name), self._report)

    def _with_history_fd(self, name: str, use: Callable[[HistoryIndex, int], T]) -> T | None:
        """`use(index, fd)` with the history open for reading; None when it does not exist or cannot be read."""
        try:
            fd = safe_open.open_file(self.paths.conversation_file(name), os.O_RDONLY)
        except OSError:
            return None  # missing or damaged: the next full read reports and repairs it
        try:
            return use(self._history_index(name), fd)
        finally:
            os.close(fd)

    def _window(self, name: str, start: Callable[[HistoryIndex, int], int]) -> list[Message]:
        """The messages whose first line is at or after `start(index, fd)`; dead streams marked interrupted."""
        offset = self._with_history_fd(name, start) or 0
        with self._histories_lock:
            history = self._refresh(name, offset)
            result = []
            for message in history.messages_from(offset):
                if message.status == "streaming" and not self._stream_is_live(message):
                    message = self._mark_interrupted(name, message)
                result.append(message)
        return result

    def _stream_is_live(self, message: Message) -> bool:
        if message.pid == os.getpid():
            return message.id in self._live_streams
        return _process_alive(message.pid)

    def _mark_interrupted(self, name: str, message: Message) -> Message:
        interrupted = message.model_copy(update={"status": "interrupted", "pid": None})
        self._write_update(name, message.id, {"status": "interrupted", "pid": None})
        return interrupted

    def _refresh(self, name: str, start: int = 0) -> _LoadedHistory:
        with self._histories_lock:
            return self._refresh_locked(name, start)

    def _refresh_locked(self, name: str, start: int = 0) -> _LoadedHistory:
        path = self.paths.conversation_file(name)
        try:
            fd = safe_open.open_file(path, os.O_RDONLY)
        except FileNotFoundError:
            self._histories.pop(name, None)
            return _LoadedHistory(inode=0)
        except OSError as error:
            damaged = damaged_path(error)
            if damaged is None:
                raise
            return self._move_damaged(name, damaged, describe_unusable(error))
        with os.fdopen(fd, "rb") as handle:
            stat = os.fstat(fd)
            history = self._histories.get(name)
            if (history is None or history.inode != stat.st_ino or stat.st_size < history.offset
                    or history.base > start):
                history = _LoadedHistory(inode=stat.st_ino, base=min(start, stat.st_size), offset=min(start, stat.st_size))
                self._histories[name] = history
            if stat.st_size == history.offset:
                return history
            handle.seek(history.offset)
            chunk = handle.read()
        bad_lines: list[str] = []
        position = history.offset
        for raw in chunk.splitlines(keepends=True):
            if not raw.endswith(b"\n") and _may_still_be_written(path):
                break  # a line still being written by another process; read it next time
            position += len(raw)
            line = raw.strip()
            if not line:
                continue
            try:
                record = orjson.loads(line)
                if isinstance(record, dict) and not is_message_line(record) and isinstance(record.get("id"), str):
                    _apply_update(history, record)
                    continue
                message = Message.model_validate(record)
            except (orjson.JSONDecodeError, ValidationError, ValueError) as error:
                bad_lines.append(f"byte {position - len(raw)}: {describe_error(error)}")
                continue
            if message.id not in history.by_id:
                history.order.append(message.id)
                history.starts[message.id] = position - len(raw)
            history.by_id[message.id] = message
        history.offset = position
        if bad_lines:
            self._repair(name, bad_lines)
            return self._refresh(name)
        return history

    def _move_damaged(self, name: str, damaged: Path, reason: str) -> _LoadedHistory:
        """The conversation's file cannot be read as a file (a link, a folder, no permission; or its folder is
        no folder): move that aside, report it, and go on with an empty history in a fresh file."""
        path = self.paths.conversation_file(name)
        if damaged != path:
            self._report(real_folder(self.paths.conversations_dir))
            return _LoadedHistory(inode=0)
        with locked(path) as moved_lock:
            try:
                moved = move_aside(path, reason)
            except FileNotFoundError:
                moved = None
        self._report(moved_lock)
        self._report(moved)
        self._histories.pop(name, None)
        return _LoadedHistory(inode=0)

    def _repair(self, name: str, bad_lines: list[str]) -> None:
        """Keep a copy of the damaged file aside, rewrite it with only its valid lines, and report it."""
        path = self.paths.conversation_file(name)
        with locked(path) as moved_lock:  # a JSONL history, not a JSON document: rewritten whole under its lock
            original = safe_open.read_bytes(path)
            backup = quarantine_name(path)
            atomic_write_bytes(backup, original)
            kept = []
            for raw in original.splitlines():
                if not raw.strip():
                    continue
                try:
                    Message.model_validate(orjson.loads(raw))
                except (orjson.JSONDecodeError, ValidationError, ValueError):
                    continue
                kept.append(raw + b"\n")
            atomic_write_bytes(path, b"".join(kept))
        self._histories.pop(name, None)
        self._report(moved_lock)
        reason = f"{len(bad_lines)} unreadable line(s) skipped ({bad_lines[0]})"
        self.bus.publish(FileQuarantined(path=str(path), moved_to=str(backup), reason=reason))

    def _write_record(self, name: str, message: Message, *, new: bool) -> None:
        """Append a message's first line (`new`), or a whole later snapshot of it, and index a new one."""
        data = orjson.dumps(message.model_dump(mode="json", exclude_none=True))
        self._append_line(name, data, index=(message.id, message.marker) if new else None)
        if new and name not in self._index().conversations:
            with self._index_transaction() as tx:
                tx.doc.conversations.setdefault(name, ConversationInfo(
                    name=name, parent=None if name == MAIN_CONVERSATION else MAIN_CONVERSATION))

    def _write_update(self, name: str, message_id: str, fields: dict[str, Any]) -> None:
        """Append an update line of a message written before: `more` is text to add, other fields replace."""
        self._append_line(name, orjson.dumps({"version": 1, "id": message_id, **fields}), index=None)

    def _append_line(self, name: str, data: bytes, *, index: tuple[str, str | None] | None) -> None:
        path = self.paths.conversation_file(name)
        with locked(path) as moved_lock:  # an append to a JSONL history, not a document change
            if _ends_torn(path):
                data = b"\n" + data  # a crash left half a line: never glue a new message onto it
            size, moved = durable.append_durably(path, data + b"\n")
            if index is not None and moved is None:
                self._history_index(name).add(size - len(data) - 1 + data.startswith(b"\n"), *index)
        self._report(moved_lock)
        self._report(moved)

    def append(self, name: str, message: Message) -> Message:
        """Persist a complete message (fsynced) before returning it."""
        name = normalise_name(name)
        if not self.paths.conversation_file(name).exists() and name not in self._index().conversations:
            raise ConversationError(f"no conversation named {name!r}")
        self._write_record(name, message, new=True)
        durable.after_commit(lambda: self.bus.publish(MessageAppended(conversation=name, message_id=message.id,
                                                                      role=message.role, marker=message.marker)))
        return message

    async def append_async(self, name: str, message: Message) -> Message:
        """`append` with the disk sync made by the durable writer: the event loop only waits for it."""
        return await durable.writer.run_async(lambda: self.append(name, message))

    def post_notice(self, name: str, text: str, *, marker: str, author: str | None = None,
                    scheduled: bool = False) -> Message:
        """A clearly marked system message (reports, task notices, background agent results); `scheduled`: it
        reports only runs of schedules, and is archived once older than `tasks.retention_days`."""
        return self.append(name, Message(role="system", content=text, marker=marker, author=author,
                                         scheduled=scheduled or None))

    def retire_schedule_notices(self, cutoff: datetime) -> int:
        """Move every conversation's schedule-run notices posted before `cutoff` into its archive
        (services.conversation_archive); returns how many left the live histories."""
        moved = 0
        for name in self._index().conversations:
            path = self.paths.conversation_file(name)
            with locked(path) as moved_lock:  # no append lands while the history is rewritten
                try:
                    count = self._archive.retire(path, name, cutoff)
                except FileNotFoundError:
                    count = 0
                if count:
                    self._histories.pop(name, None)
                    self.message_count(name)  # the offset index of the new file, rebuilt while nothing appends
            self._report(moved_lock)
            moved += count
        return moved

    def start_stream(self, name: str, *, author: str | None = None, writes: Writes = write_now) -> StreamingReply:
        """A reply streamed into `name`; `writes` makes its writes (at once unless a turn hands them on)."""
        return StreamingReply(self, normalise_name(name), author=author, writes=writes)

    def report_to_parent(self, child: str, summary: str, status: str, key_findings: list[str]) -> Message:
        """Append a marked report from `child` to its parent conversation; persisted before it returns."""
        child = normalise_name(child)
        info = self.info(child)
        if info.parent is None:
            raise ConversationError(f"{child!r} has no parent conversation to report to")
        lines = [f"Report from {child} ({status})", "", summary.strip()]
        if key_findings:
            lines += ["", "Key findings:"] + [f"- {finding.strip()}" for finding in key_findings]
        message = self.post_notice(info.parent, "\n".join(lines), marker="report", author=child)
        self.bus.publish(ChildReported(child=child, parent=info.parent, status=status, summary=summary))
        return message


def _apply_update(history: _LoadedHistory, record: dict[str, Any]) -> None:
    """Apply an update line to the message it names (one read before the window of this read is skipped)."""
    message = history.by_id.get(record["id"])
    if message is None:
        return
    fields = {key: value for key, value in record.items() if key not in ("version", "id", "more")}
    content = fields.pop("content", message.content) + str(record.get("more") or "")
    history.by_id[message.id] = Message.model_validate({**message.model_dump(), **fields, "content": content})


def _first_offset(entries: list[IndexEntry]) -> int:
    return entries[0].offset if entries else 0


def _compacted_through(fd: int, offset: int) -> str | None:
    """The `compacted_through` of the summary whose first line starts at `offset`."""
    chunk = b""
    while not chunk.endswith(b"\n"):
        more = os.pread(fd, 65536, offset + len(chunk))
        if not more:
            break
        chunk += more
        if b"\n" in more:
            break
    try:
        record = orjson.loads(chunk.split(b"\n", 1)[0])
    except orjson.JSONDecodeError:
        return None
    through = record.get("compacted_through") if isinstance(record, dict) else None
    return through if isinstance(through, str) else None


def _may_still_be_written(path: Path) -> bool:
    """A final line without a newline is torn only if nobody can still be appending to it."""
    return time.time() - os.stat(path, follow_symlinks=False).st_mtime < 2.0


def _ends_torn(path: Path) -> bool:
    try:
        fd = safe_open.open_file(path, os.O_RDONLY)
    except OSError:
        return False  # missing, or damaged: the append moves it aside and starts a fresh file
    try:
        size = os.fstat(fd).st_size
        return size > 0 and os.pread(fd, 1, size - 1) != b"\n"
    finally:
        os.close(fd)
