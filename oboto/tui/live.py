"""Widgets that show service state implement `workspace_event` to keep themselves current."""

from __future__ import annotations

from pathlib import Path

from oboto.core.events import Event


class LiveData:
    """Mixin for widgets showing service state; the main screen calls `workspace_event` for every change."""

    def workspace_event(self, event: Event | None, changed: frozenset[Path]) -> None:
        """A service event (`event`) or files changed on disk (`changed`); re-read what this widget shows if needed."""
