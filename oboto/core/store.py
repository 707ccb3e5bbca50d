"""Workspace documents: validated loads that quarantine what does not parse, and the one read-change-write.

Every read-modify-write of a `.oboto/` document goes through `document_transaction`: lock `<file>.lock`,
load (a corrupt file is moved aside, never overwritten), let the caller change the document, replace the
file atomically when the document changed, and publish the change's events once the lock is released.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Generic, Iterator, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from oboto.core.atomic import atomic_write_json, fsync_dir
from oboto.core.bus import EventBus
from oboto.core.events import Event, FileQuarantined
from oboto.core.locks import locked

M = TypeVar("M", bound=BaseModel)

_changing = threading.local()
"""The documents this thread is changing: a nested transaction on one of them would wait for itself forever."""


def _changing_paths() -> set[Path]:
    paths: set[Path] = _changing.__dict__.setdefault("paths", set())
    return paths


def in_transaction(path: Path) -> bool:
    """Whether this thread is inside a `document_transaction` of `path` (and so holds its lock)."""
    return path.absolute() in _changing_paths()


def quarantine_name(path: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return path.with_name(f"{path.name}.corrupt-{stamp}")


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


def _move_aside(path: Path, reason: str) -> FileQuarantined:
    """Rename a bad file to `<file>.corrupt-<timestamp>`; returns the event that reports it."""
    target = quarantine_name(path)
    os.replace(path, target)
    fsync_dir(path.parent)
    return FileQuarantined(path=str(path), moved_to=str(target), reason=reason)


def _parse(path: Path, model: type[M]) -> tuple[M | None, str | None]:
    """The validated document (None when missing or corrupt) and why it is corrupt, if it is."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    try:
        return model.model_validate(orjson.loads(raw)), None
    except (orjson.JSONDecodeError, ValidationError, ValueError) as error:
        return None, describe_error(error)


def _read(path: Path, model: type[M]) -> tuple[M | None, FileQuarantined | None]:
    """Under the file's lock: the validated document, moving a corrupt file aside (with the event saying so)."""
    document, problem = _parse(path, model)
    return document, _move_aside(path, problem) if problem is not None else None


def load_document(path: Path, model: type[M], bus: EventBus | None) -> M | None:
    """The validated document at `path`; None when it does not exist or was quarantined as corrupt.

    Reading needs no lock (documents are replaced atomically); moving a corrupt file aside does, so a
    file another process has just replaced with a good one is never taken for the bad one.
    """
    document, problem = _parse(path, model)
    if problem is None:
        return document
    if in_transaction(path):
        document, quarantined = _read(path, model)  # this thread already holds the lock
    else:
        with locked(path):
            document, quarantined = _read(path, model)
    if quarantined is not None and bus is not None:
        bus.publish(quarantined)
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
            self.written = os.stat(path)
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
    transaction: DocumentTransaction[M] | None = None
    try:
        with locked(path):
            document, quarantined = _read(path, model)
            transaction = DocumentTransaction(document if document is not None else default(),
                                              found=document is not None)
            before = transaction.doc.model_dump(mode="json")
            yield transaction
            transaction._commit(path, before)
    finally:
        changing.discard(key)
        events = ([quarantined] if quarantined else []) + (transaction._published_events() if transaction else [])
        if bus is not None:
            for event in events:
                bus.publish(event)
