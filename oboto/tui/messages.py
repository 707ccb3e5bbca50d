"""Textual messages that carry service events and requests between the app's parts."""

from __future__ import annotations

from pathlib import Path

from textual.message import Message

from oboto.core.events import Event


class ServiceEvent(Message):
    """An event a service published on the bus (delivered on the app's loop)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class WorkspaceChanged(Message):
    """Files under `.oboto/` changed (often another process: the daemon, the CLI)."""

    def __init__(self, changed: frozenset[Path]) -> None:
        super().__init__()
        self.changed = changed


class SwitchConversation(Message):
    """Show another conversation in the main view."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class OpenTask(Message):
    """Show a background task's detail view."""

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id


class UndoChange(Message):
    """Undo one checkpointed change of the workspace's files (asking first if files changed since)."""

    def __init__(self, change_id: str) -> None:
        super().__init__()
        self.change_id = change_id


class ShowChange(Message):
    """Show the diff of one checkpointed change."""

    def __init__(self, change_id: str) -> None:
        super().__init__()
        self.change_id = change_id
