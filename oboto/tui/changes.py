"""Changes and undo in the TUI: what a conversation's turns changed, and undo, redo and diff with the CLI's safety.

Every call here reads or writes the checkpoint store (git, under its lock), so each runs in a thread worker.
An undo that would overwrite files changed since is refused by the service; the files are then listed in the
confirmation dialog, and only a yes there forces it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from textual.widget import Widget

from oboto.agent.tools.base import ToolError
from oboto.agent.tools.workspace_paths import display_path, resolve_in_workspace
from oboto.core.errors import RequestRefused
from oboto.services.change_models import Change
from oboto.services.checkpoints import ChangeError, UndoRefused, UndoResult
from oboto.services.runtime import Runtime
from oboto.tui.screens.change_diff import ChangeDiffScreen
from oboto.tui.screens.confirm import ConfirmDialog
from oboto.tui.workers import run_blocking, running

TUI_UNDO = "TUI undo"
TUI_REDO = "TUI redo"
REVERT_GROUP = "change-revert"
CONFLICTS_LISTED = 12


@dataclass
class ConversationChanges:
    """What the turns on screen changed, read from the checkpoint store in one go."""

    turns: dict[str, Change] = field(default_factory=dict)
    """The change of each turn, by the stored id of the message that started it."""
    undone: dict[str, str] = field(default_factory=dict)
    diffs: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    """For each tool call asked about: (the file's path, its diff, a note on what the diff covers)."""


def read_conversation_changes(runtime: Runtime, conversation: str, turn_ids: set[str],
                              calls: dict[str, tuple[str, bool]]) -> ConversationChanges:
    """The changes of the turns `turn_ids` and the diffs of file-writing tool calls.

    `calls`: every writing call on screen → (the path it was given, whether its diff must come from the store).
    A turn's change holds the file as the whole turn left it, so a file written by two calls of one turn gets
    that combined diff, and says so.
    """
    checkpoints = runtime.checkpoints
    changes = checkpoints.changes(conversation=conversation)
    turns = [change for change in changes if change.kind == "turn"]
    found = ConversationChanges(turns={change.message_id: change for change in turns if change.message_id in turn_ids},
                                undone=checkpoints.undone_by(changes))
    by_call = {call_id: change for change in turns for call_id in change.tool_call_ids}
    written: dict[str, tuple[Change, str]] = {}
    for call_id, (given, _needed) in calls.items():
        change = by_call.get(call_id)
        path = _workspace_path(runtime.paths.root, given)
        if change is not None and path is not None and path in change.touched():
            written[call_id] = (change, path)
    writers = Counter((change.id, path) for change, path in written.values())
    for call_id, (change, path) in written.items():
        if not calls[call_id][1]:
            continue
        note = (f"the whole turn's change to {path}: the turn wrote it more than once"
                if writers[(change.id, path)] > 1 else None)
        found.diffs[call_id] = (path, checkpoints.diff(change.id, path, changes=changes), note)
    return found


def _workspace_path(root: Path, given: str) -> str | None:
    """The path a file tool wrote for the path it was given, as the change lists it."""
    try:
        return display_path(root, resolve_in_workspace(root, given))
    except ToolError:
        return None


# ----- undo, redo, diff ----------------------------------------------------------------------------


def undo_change(node: Widget, runtime: Runtime, *, change_id: str | None = None, conversation: str | None = None,
                task_id: str | None = None) -> None:
    """Undo a change (default: the latest of `conversation` or `task_id`), asking first if files changed since."""
    call = partial(runtime.checkpoints.undo, change_id, conversation=conversation, task_id=task_id, by=TUI_UNDO)
    _revert(node, runtime, call, by=TUI_UNDO, what="Undo")


def redo_change(node: Widget, runtime: Runtime, *, conversation: str | None = None,
                task_id: str | None = None) -> None:
    """Take back the latest undo of `conversation` or `task_id`."""
    call = partial(runtime.checkpoints.redo, conversation=conversation, task_id=task_id, by=TUI_REDO)
    _revert(node, runtime, call, by=TUI_REDO, what="Redo")


def _revert(node: Widget, runtime: Runtime, call, *, by: str, what: str) -> None:
    if running(node, REVERT_GROUP):
        node.notify(f"An undo or redo is still running; {what.lower()} again once it is done.", timeout=4)
        return
    run_blocking(node, call, partial(_reverted, node, what), what=what, group=REVERT_GROUP,
                 refused=partial(_refused, node, runtime, by, what))


def _refused(node: Widget, runtime: Runtime, by: str, what: str, refusal: RequestRefused) -> None:
    if not isinstance(refusal, UndoRefused):
        node.notify(str(refusal), title=what, severity="warning", timeout=8, markup=False)
        return
    target, conflicts = refusal.change, refusal.conflicts
    listed = "\n".join(f"  {path}" for path in conflicts[:CONFLICTS_LISTED])
    if len(conflicts) > CONFLICTS_LISTED:
        listed += f"\n  … and {len(conflicts) - CONFLICTS_LISTED} more"
    consequence = (
        f"{target.id} ({target.who}) touched these files, and they were changed again since:\n{listed}\n\n"
        f"{what} anyway puts them back as they were before {target.id}, overwriting those later changes "
        "(they are checkpointed: undoing this undo brings them back)."
    )

    count = len(conflicts)
    node.app.push_screen(ConfirmDialog(f"Overwrite {count} file{'' if count == 1 else 's'} changed since?",
                                       consequence, f"{what} anyway",
                                       partial(runtime.checkpoints.undo, target.id, force=True, by=by),
                                       done=partial(_reverted, node, what)))


def _reverted(node: Widget, what: str, result: UndoResult) -> None:
    lines = [result.headline()]
    if result.restored and result.change is not None:
        lines.append("/redo puts it back." if result.target.kind != "undo" else "ctrl+z undoes it again.")
    if result.overwritten:
        lines.append(f"Overwrote files changed since {result.target.id}: {', '.join(result.overwritten)}")
    if (not_restored := result.not_restored()) is not None:
        lines.append(f"Not restored (never checkpointed): {not_restored}")
    if result.failures:
        lines.append(f"Could not restore {len(result.failures)} file(s): " + "; ".join(result.failures))
    severity = "error" if result.failures else "warning" if result.overwritten or result.target.skipped else "information"
    node.notify("\n".join(lines), title=f"{what} done" if not result.failures else f"{what} incomplete",
                severity=severity, timeout=10, markup=False)


def show_change_diff(node: Widget, runtime: Runtime, *, change_id: str | None = None,
                     conversation: str | None = None, task_id: str | None = None) -> None:
    """Open the diff of a change (default: the latest of `conversation` or `task_id`)."""
    checkpoints = runtime.checkpoints

    def read() -> tuple[Change, str, str | None]:
        changes = checkpoints.changes()
        change = checkpoints.get(change_id, changes) if change_id else latest_change(changes, conversation, task_id)
        return change, checkpoints.diff(change.id, changes=changes), checkpoints.undone_by(changes).get(change.id)

    run_blocking(node, read, lambda found: node.app.push_screen(ChangeDiffScreen(*found)), what="Diff",
                 group="change-diff")


def latest_change(changes: list[Change], conversation: str | None, task_id: str | None) -> Change:
    """The newest change made by a turn of `conversation` or by task `task_id` (or an undo of one)."""
    mine = [change for change in changes if change.parent is None
            and (change.task_id == task_id if task_id is not None else change.conversation == conversation)]
    if not mine:
        raise ChangeError(f"no change recorded for {f'task {task_id}' if task_id else f'conversation {conversation}'}")
    return mine[-1]
