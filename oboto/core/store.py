"""Workspace documents: validated loads that quarantine what does not parse, and the one read-change-write.

Every read-modify-write of a `.oboto/` document goes through `document_transaction`: lock `<file>.lock`,
load (a corrupt file is moved aside, never overwritten), let the caller change the document, replace the
file atomically when the document changed, and publish the change's events once the lock is released.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Generic, Iterator, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from oboto.core import durable, safe_open
from oboto.core.atomic import atomic_write_json
from oboto.core.bus import EventBus
from oboto.core.events import Event, FileQuarantined
from oboto.core.locks import locked
from oboto.core.quarantine import damaged_path, describe_unusable, move_aside

M = TypeVar("M", bound=BaseModel)

_changing = threading.local()
"""The documents this thread is changing: a nested transaction on one of them would wait for itself forever."""


def _changing_paths() -> set[Path]:
    paths: set[Path] = _changing.__dict__.setdefault("paths", set())
    return paths


def in_transaction(path: Path) -> bool:
    """Whether this thread is inside a `document_transaction` of `path` (and so holds its lock)."""
    return path.absolute() in _changing_paths()


def describe_error(error: Exception) -> str:
    """One plain sentence about why a file was rejected."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        more = f" (and {error.error_count() - 1} more problems)" if error.error_count() > 1 else ""
        return f"{where}: {first['msg']}{more}"
    if isinstance(error, orjson.JSONDecodeError):
        return f"not valid JSON ({error})"
    return str(error)


def _parse(path: Path, model: type[M]) -> tuple[M | None, str | None, Path]:
    """The validated document (None when missing or corrupt), why it is corrupt if it is, and what is damaged:
    the file, or a folder on its way that is a link or no folder at all."""
    try:
        raw = durable.read_staged(path)
        if raw is None:
            raw = safe_open.read_bytes(path)
    except FileNotFoundError:
        return None, None, path
    except OSError as error:
        damaged = damaged_path(error)
        if damaged is None:
            raise
        return None, describe_unusable(error), damaged
    try:
        return model.model_validate(orjson.loads(raw)), None, path
    except (orjson.JSONDecodeError, ValidationError, ValueError) as error:
        return None, describe_error(error), path


def _read(path: Path, model: type[M]) -> tuple[M | None, FileQuarantined | None]:
    """Under the file's lock: the validated document, moving a corrupt file aside (with the event saying so).

    A damaged file that cannot be moved aside raises DamagedState: it must not be read as missing and then
    written over.
    """
    document, problem, damaged = _parse(path, model)
    if problem is None:
        return document, None
    try:
        return document, move_aside(damaged, problem)
    except FileNotFoundError:
        return None, None  # someone else moved it aside meanwhile


def load_document(path: Path, model: type[M], bus: EventBus | None) -> M | None:
    """The validated document at `path`; None when it does not exist or was quarantined as corrupt.

    Reading needs no lock (documents are replaced atomically); moving a corrupt file aside does, so a
    file another process has just replaced with a good one is never taken for the bad one.
    """
    document, problem, _damaged = _parse(path, model)
    if problem is None:
        return document
    moved_lock = None
    if in_transaction(path):
        document, quarantined = _read(path, model)  # this thread already holds the lock
    elif durable.in_job():
        moved_lock = durable.hold_lock(path)
        document, quarantined = _read(path, model)
    else:
        with locked(path) as moved_lock:
            document, quarantined = _read(path, model)
    if bus is not None:
        for event in (moved_lock, quarantined):
            if event is not None:
                bus.publish(event)
    return document


def save_document(path: Path, document: BaseModel) -> None:
    """Write a new document (a read-modify-write of an existing one goes through `document_transaction`)."""
    atomic_write_json(path, document.model_dump(mode="json"))


class DocumentTransaction(Generic[M]):
    """One read-change-write of a document, handed out by `document_transaction`."""

    def __init__(self, doc: M, *, found: bool) -> None:
        self.doc = doc
        """The document to change in place or replace; `default()` when there was none (or it was corrupt)."""
        self.found = found
        """Whether a valid document was read from the file."""
        self.written: os.stat_result | None = None
        """The file's stat right after it was saved (still under the lock); None when nothing was written."""
        self._events: list[Event] = []
        self._save_unchanged = False
        self._committed = False

    def publish(self, event: Event) -> None:
        """Publish `event` once the change is saved and the lock released; never if the change fails."""
        self._events.append(event)

    def save_unchanged(self) -> None:
        """Write the document even if it equals what was read, e.g. a default rebuilt from other files."""
        self._save_unchanged = True

    def _commit(self, path: Path, before: dict[str, Any]) -> None:
        after = self.doc.model_dump(mode="json")
        if after != before or self._save_unchanged:
            atomic_write_json(path, after)
            durable.after_commit(lambda: setattr(self, "written", os.stat(path, follow_symlinks=False)))
        self._committed = True

    def _published_events(self) -> list[Event]:
        return self._events if self._committed else []


@contextmanager
def document_transaction(path: Path, model: type[M], bus: EventBus | None, *,
                         default: Callable[[], M]) -> Iterator[DocumentTransaction[M]]:
    """Lock `path`, load it, let the caller change `tx.doc`, save it atomically if it changed, then publish.

    Events queued with `tx.publish` reach subscribers after the lock is released, so a subscriber may change
    the same document. An exception inside the block saves nothing and publishes none of its events (a
    quarantine found while loading is still reported). `default()` stands in for a missing or corrupt
    document and may raise to refuse the change.
    """
    key = path.absolute()
    changing = _changing_paths()
    if key in changing:
        raise RuntimeError(f"{path} is already being changed by this thread; change it in one transaction")
    changing.add(key)
    quarantined: FileQuarantined | None = None
    moved_lock: FileQuarantined | None = None
    transaction: DocumentTransaction[M] | None = None
    try:
        with _lock_for_change(path) as moved_lock:
            document, quarantined = _read(path, model)
            transaction = DocumentTransaction(document if document is not None else default(),
                                              found=document is not None)
            before = transaction.doc.model_dump(mode="json")
            yield transaction
            transaction._commit(path, before)
    finally:
        changing.discard(key)
        events = [event for event in (moved_lock, quarantined) if event is not None]
        events += transaction._published_events() if transaction else []
        if bus is not None and events:
            durable.after_commit(lambda: bus.publish_many(events))


@contextmanager
def _lock_for_change(path: Path) -> Iterator[FileQuarantined | None]:
    """The document's lock: held until the writer's batch commits within a writer job, else for the block."""
    if durable.in_job():
        yield durable.hold_lock(path)
    else:
        with locked(path) as moved_lock:
            yield moved_lock
