"""The typed event bus: in-process subscribers plus an append-only, size-rotated `.oboto/events.jsonl`
(every event kind but those marked `logged = False`)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

from oboto.core.events import Event, WorkspaceWarning
from oboto.core.rotating_log import RotatingJsonl

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]


class EventBus:
    """Publish events to subscribers and to the workspace event log."""

    def __init__(self, log_path: Path | None = None, *, max_bytes: int = 5_000_000, backups: int = 3) -> None:
        self.log_path = log_path
        self._log = RotatingJsonl(log_path, max_bytes=max_bytes, backups=backups, fsync=False) if log_path else None
        self._handlers: list[tuple[Handler, tuple[type[Event], ...]]] = []

    def subscribe(self, handler: Handler, *types: type[Event]) -> Callable[[], None]:
        """Call `handler` for every event (or only those of `types`); returns an unsubscribe function."""
        entry = (handler, types)
        self._handlers.append(entry)
        return lambda: self._handlers.remove(entry) if entry in self._handlers else None

    def publish(self, event: Event) -> None:
        self.publish_many([event])

    def publish_many(self, events: list[Event]) -> None:
        """Publish `events` in order; a burst of them is written to the event log in one append."""
        self._write(events)
        for event in events:
            self._dispatch(event)

    def _dispatch(self, event: Event) -> None:
        for handler, types in list(self._handlers):
            if types and not isinstance(event, types):
                continue
            try:
                handler(event)
            except Exception as failure:  # a broken subscriber must not break the publisher, nor go unnoticed
                log.exception("event handler failed for %s", event.kind)
                if not isinstance(event, WorkspaceWarning):
                    self.publish(WorkspaceWarning(message=f"reacting to {event.kind} failed: {failure}"))

    def _write(self, events: list[Event]) -> None:
        logged = [event for event in events if event.logged]
        if self._log is None or not logged:
            return
        pid = os.getpid()
        try:
            moved = self._log.append_many([{**event.to_record(), "pid": pid} for event in logged])
        except OSError as error:
            log.warning("could not write the event log %s: %s", self.log_path, error)
            return
        if moved is not None:
            self.publish(moved)  # the damaged log that was in the way, moved aside before this event was written
