"""How changes to files are drawn: a coloured diff that folds to one line when long, and the files a change touched."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.content import Content
from textual.widgets import Collapsible, Static

from oboto.services.change_models import Change, FileChange
from oboto.tui.messages import ShowChange, UndoChange

DIFF_OPEN_LINES = 10
"""A diff of at most this many lines is shown open; a longer one folds to its summary line until asked."""
DIFF_DISPLAY_LINES = 300
"""Lines drawn inside a tool block; the diff view of the whole change (/diff) shows every line."""
NAME_COLUMN_LIMIT = 48
"""File names are padded to line their counts up, up to this width (a longer name just pushes its own out)."""
MINUS = "−"
"""A real minus sign in counts, as `git diff --stat` readers expect, and unlike "-" it cannot start a list."""

_HEADER_STYLES = (
    ("diff --git", "bold $text-primary"),
    ("--- ", "bold"),
    ("+++ ", "bold"),
    ("Binary files", "$text-muted"),
)
FILE_STATUS_STYLES = {
    "added": "$text-success",
    "modified": "$text-warning",
    "deleted": "$text-error",
    "renamed": "$text-primary",
}


def diff_hunks(diff: str) -> list[str]:
    """A one-file unified diff from its first hunk on (the file's name is already in the title)."""
    lines = diff.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("@@"):
            return lines[index:]
    return [line for line in lines if line.startswith("Binary files")]


def count_lines(hunks: Iterable[str]) -> tuple[int, int]:
    """(added, deleted) lines in hunks as `diff_hunks` returns them."""
    added = deleted = 0
    for line in hunks:
        if line.startswith("+"):
            added += 1
        elif line.startswith("-"):
            deleted += 1
    return added, deleted


def styled_diff(lines: Iterable[str]) -> Content:
    """Unified diff lines coloured with the theme's variables: + success, - error, @@ and git's notes muted."""
    styled: list[Content] = []
    in_hunk = False
    for line in lines:
        if line.startswith("diff --git"):
            in_hunk = False
        if line.startswith("@@"):
            in_hunk = True
            style = "$text-muted"
        elif in_hunk and line[:1] in ("+", "-"):
            style = "$text-success" if line.startswith("+") else "$text-error"
        elif line.startswith("\\") or line.startswith("[…"):
            style = "italic $text-muted"
        elif in_hunk:
            style = ""
        else:
            style = next((style for prefix, style in _HEADER_STYLES if line.startswith(prefix)), "$text-muted")
        styled.append(Content.styled(line, style) if style else Content(line))
    return Content("\n").join(styled)


def line_counts(added: int | None, deleted: int | None) -> Content:
    """"+3 −1" in the theme's colours ("binary" when there are no line counts); zero counts left out."""
    if added is None or deleted is None:
        return Content.styled("binary", "$text-muted")
    parts = []
    if added or not deleted:
        parts.append(Content.styled(f"+{added}", "$text-success"))
    if deleted:
        parts.append(Content.styled(f"{MINUS}{deleted}", "$text-error"))
    return Content(" ").join(parts)


class DiffView(Collapsible):
    """One file's diff, titled "notes.txt +3 −1"; open when short, folded when long (Enter or a click opens it)."""

    DEFAULT_CSS = """
    DiffView {
        margin: 0;
        padding: 0 0 0 1;
        border-top: none;
        background: transparent;
        & > Contents {
            padding: 0 0 0 2;
        }
        .diff-note {
            color: $text-muted;
            text-style: italic;
        }
    }
    """

    def __init__(self, path: str, diff: str, *, note: str | None = None) -> None:
        hunks = diff_hunks(diff)
        self.path = path
        self.added, self.deleted = count_lines(hunks)
        shown = hunks[:DIFF_DISPLAY_LINES]
        if len(hunks) > len(shown):
            shown.append(f"[… {len(hunks) - len(shown)} more lines; /diff shows the whole change]")
        children = [Static(note, classes="diff-note", markup=False)] if note else []
        children.append(Static(styled_diff(shown), classes="diff-lines"))
        title = Content.assemble((path, "bold"), " ", line_counts(self.added, self.deleted))
        super().__init__(*children, title=title, collapsed=len(hunks) > DIFF_OPEN_LINES)  # type: ignore[arg-type]


def file_name(file: FileChange) -> str:
    return f"{file.old_path} → {file.path}" if file.old_path else file.path


def file_line(file: FileChange, name_width: int = 0) -> Content:
    """One file of a change: its status, its name (both names for a rename) and its line counts."""
    counts = Content("") if file.status == "renamed" else line_counts(file.added_lines, file.deleted_lines)
    return Content.assemble((f"{file.status:<9}", FILE_STATUS_STYLES[file.status]),
                            file_name(file).ljust(name_width), "  ", counts)


def change_content(change: Change, undone_by: str | None, heading: str) -> Content:
    """A change as the person reads it: a heading with the totals and the change id, then one line per file."""
    count = len(change.files)
    head = Content.assemble(
        (f"✎ {heading} {count} file{'' if count == 1 else 's'}", "bold"), "  ",
        line_counts(change.lines_added, change.lines_deleted), "  ", (change.id, "$text-muted"),
    )
    if undone_by:
        head = Content.assemble(head, "  ", (f"undone by {undone_by}", "$text-warning"))
    width = min(NAME_COLUMN_LIMIT, max((len(file_name(file)) for file in change.files), default=0))
    lines = [head, *(Content.assemble("  ", file_line(file, width)) for file in change.files)]
    lines += [Content.assemble("  ", (f"{'skipped':<9}", "$text-muted"), f"{file.path}: {file.reason}")
              for file in change.skipped]
    return Content("\n").join(lines)


class ChangedFiles(Static):
    """The files one change added, modified, deleted or renamed, with line counts; `show` redraws it."""

    DEFAULT_CSS = """
    ChangedFiles {
        height: auto;
        &.-undone { color: $text-muted; }
    }
    """

    def __init__(self, heading: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.heading = heading
        self.change: Change | None = None
        self.undone_by: str | None = None

    def show(self, change: Change, undone_by: str | None = None) -> None:
        self.change = change
        self.undone_by = undone_by
        self.set_class(undone_by is not None, "-undone")
        self.update(change_content(change, undone_by, self.heading))


class TurnChanges(ChangedFiles, can_focus=True):
    """Below a turn: the files it changed; `u` undoes the turn, Enter shows its diff."""

    DEFAULT_CSS = """
    TurnChanges {
        margin: 1 1 0 1;
        padding: 0 1;
        border-left: tall $success 50%;
        &.-undone { border-left: tall $foreground 20%; }
        &:focus { background: $boost; border-left: tall $accent; }
    }
    """
    BINDINGS = [
        Binding("u", "undo", "Undo this turn", id="turn-changes-undo"),
        Binding("enter", "show_diff", "Diff", id="turn-changes-diff"),
    ]

    def __init__(self, message_id: str) -> None:
        super().__init__("changed")
        self.message_id = message_id
        """The stored id of the person's message that started the turn."""

    def action_undo(self) -> None:
        if self.change is not None:
            self.post_message(UndoChange(self.change.id))

    def action_show_diff(self) -> None:
        if self.change is not None:
            self.post_message(ShowChange(self.change.id))

    def on_click(self) -> None:
        self.focus()
