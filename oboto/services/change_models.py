"""What a checkpointed change records: who made it, when, and the files it added, modified or deleted."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Literal

from pydantic import Field

from oboto.core.models import FORMAT_VERSION, Record, utc_now

ChangeKind = Literal["turn", "task", "exec", "undo", "redo"]
FileStatus = Literal["added", "modified", "deleted", "renamed"]
CHANGE_ID_PATTERN = r"^c-[0-9a-f]{8}$"


def new_change_id() -> str:
    return f"c-{secrets.token_hex(4)}"


class FileState(Record):
    """One file as a checkpoint holds it: git's mode (100644, 100755, 120000) and blob id."""

    mode: str
    blob: str


class FileChange(Record):
    path: str
    status: FileStatus
    old_path: str | None = None
    """Where a renamed file was before the change."""
    before: FileState | None = None
    """The file (at `old_path` for a rename) before the change; None when it did not exist."""
    after: FileState | None = None
    added_lines: int | None = None
    """None for binary content."""
    deleted_lines: int | None = None

    @property
    def binary(self) -> bool:
        return self.added_lines is None

    def states(self) -> dict[str, tuple[FileState | None, FileState | None]]:
        """Every path this change touched, with its state before and after (a rename touches two)."""
        if self.old_path is not None:
            return {self.old_path: (self.before, None), self.path: (None, self.after)}
        return {self.path: (self.before, self.after)}


class SkippedFile(Record):
    """A file a checkpoint left out, so a change can say it was not captured instead of losing it silently."""

    path: str
    reason: str
    size: int | None = None
    mtime_ns: int | None = None


class ChangeAuthor(Record):
    """Who made a change, and the fields `oboto changes` filters on."""

    kind: ChangeKind
    who: str
    """In words: "chat turn", "schedule s-… (task t-…)", "run_command in chat turn", "oboto undo of c-…"."""
    conversation: str | None = None
    task_id: str | None = None
    schedule_id: str | None = None
    origin: str | None = None
    message_id: str | None = None
    """The stored id of the person's message that started the turn."""
    undoes: str | None = None

    @classmethod
    def turn(cls, conversation: str, message_id: str | None = None) -> "ChangeAuthor":
        return cls(kind="turn", who=f"{conversation} turn", conversation=conversation, message_id=message_id)

    @classmethod
    def task(cls, task_id: str, *, origin: str, schedule_id: str | None = None) -> "ChangeAuthor":
        if origin == "agent-loop":
            who = f"agent-loop tick (task {task_id})"
        elif schedule_id:
            who = f"schedule {schedule_id} (task {task_id})"
        else:
            who = f"task {task_id}"
        return cls(kind="task", who=who, task_id=task_id, origin=origin, schedule_id=schedule_id)

    def program(self, tool: str) -> "ChangeAuthor":
        """A shell command (or another program-running tool) inside this author's turn or task."""
        return self.model_copy(update={"kind": "exec", "who": f"{tool} in {self.who}"})

    @classmethod
    def reverting(cls, target: "Change", by: str) -> "ChangeAuthor":
        """An undo of `target` (a redo when `target` was itself an undo), filed with the same conversation or task."""
        kind: ChangeKind = "redo" if target.kind == "undo" else "undo"
        return cls(**{**target.model_dump(include=set(cls.model_fields)), "kind": kind,
                      "who": f"{by} of {target.id} ({target.who})", "message_id": None, "undoes": target.id})


class Change(ChangeAuthor):
    """A (before, after) pair of checkpoints, who made it, and what changed between them."""

    version: int = Field(default=FORMAT_VERSION, ge=1)
    id: str = Field(default_factory=new_change_id, pattern=CHANGE_ID_PATTERN)
    parent: str | None = None
    """The turn or task change a shell command's change happened inside."""
    tool_call_ids: list[str] = Field(default_factory=list)
    started_at: datetime = Field(default_factory=utc_now)
    finished_at: datetime = Field(default_factory=utc_now)
    before: str
    """The checkpoint (a commit of the store) taken before."""
    after: str = ""
    """The checkpoint taken after; filled in from the store, never written into the record itself."""
    files: list[FileChange] = Field(default_factory=list)
    skipped: list[SkippedFile] = Field(default_factory=list)

    def touched(self) -> dict[str, tuple[FileState | None, FileState | None]]:
        states: dict[str, tuple[FileState | None, FileState | None]] = {}
        for file in self.files:
            states.update(file.states())
        return states

    @property
    def lines_added(self) -> int:
        return sum(file.added_lines or 0 for file in self.files)

    @property
    def lines_deleted(self) -> int:
        return sum(file.deleted_lines or 0 for file in self.files)

    def to_json(self, *, undone: bool) -> dict:
        document = self.model_dump(mode="json", exclude={"version"})
        document["undone"] = undone
        for file, dumped in zip(self.files, document["files"]):
            dumped["binary"] = file.binary
        return document
