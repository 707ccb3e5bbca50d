"""The typed event bus: in-process subscribers plus an append-only, size-rotated `.oboto/events.jsonl`
(every event kind but those marked `logged = False`)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Callable

import orjson

from oboto.core.atomic import append_line
from oboto.core.events import Event, WorkspaceWarning

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]


class EventBus:
    """Publish events to subscribers and to the workspace event log."""

    def __init__(self, log_path: Path | None = None, *, max_bytes: int = 5_000_000, backups: int = 3) -> None:
        self.log_path = log_path
        self.max_bytes = max_bytes
        self.backups = backups
        self._handlers: list[tuple[Handler, tuple[type[Event], ...]]] = []
        self._write_lock = threading.Lock()

    def subscribe(self, handler: Handler, *types: type[Event]) -> Callable[[], None]:
        """Call `handler` for every event (or only those of `types`); returns an unsubscribe function."""
        entry = (handler, types)
        self._handlers.append(entry)
        return lambda: self._handlers.remove(entry) if entry in self._handlers else None

    def publish(self, event: Event) -> None:
        self._write(event)
        for handler, types in list(self._handlers):
            if types and not isinstance(event, types):
                continue
            try:
                handler(event)
            except Exception as failure:  # a broken subscriber must not break the publisher, nor go unnoticed
                log.exception("event handler failed for %s", event.kind)
                if not isinstance(event, WorkspaceWarning):
                    self.publish(WorkspaceWarning(message=f"reacting to {event.kind} failed: {failure}"))

    def _write(self, event: Event) -> None:
        if self.log_path is None or not event.logged:
            return
        line = orjson.dumps({**event.to_record(), "pid": os.getpid()})
        with self._write_lock:
            try:
                size = append_line(self.log_path, line, fsync=False)
                if size > self.max_bytes:
                    self._rotate()
            except OSError:
                log.exception("could not write the event log %s", self.log_path)

    def _rotate(self) -> None:
        assert self.log_path is not None
        for index in range(self.backups - 1, 0, -1):
            older = self.log_path.with_name(f"{self.log_path.name}.{index}")
            if older.exists():
                os.replace(older, self.log_path.with_name(f"{self.log_path.name}.{index + 1}"))
        os.replace(self.log_path, self.log_path.with_name(f"{self.log_path.name}.1"))
