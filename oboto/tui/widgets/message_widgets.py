"""The pieces a conversation is drawn with: messages, tool-call blocks, notices, retries, the "earlier" row."""

from __future__ import annotations

import json

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message as TextualMessage
from textual.widgets import Collapsible, Markdown, Static

from oboto.services.conversation_models import Message
from oboto.tui.widgets.change_views import DiffView
from oboto.tui.widgets.message_actions import FocusableMessage

RESULT_DISPLAY_LIMIT = 6_000
"""Characters of a tool result shown in its block; huge file reads would only slow the view down."""

SHORT_ARGS_LIMIT = 48
FILE_WRITING_TOOLS = frozenset({"write_file", "edit_file"})
"""Tools whose block shows the diff of the file they wrote."""
CUT_DIFF_MARK = "[… "
"""How edit_file marks a diff it cut short in its result (agent/tools/text_diff.py)."""


class UserMessage(Static, FocusableMessage, can_focus=True):
    """What the person typed, shown verbatim (no markup, no Markdown: it is theirs, not formatted)."""

    DEFAULT_CSS = """
    UserMessage {
        margin: 1 1 0 1;
        padding: 0 1;
        background: $boost;
        border-left: thick $accent;
        &:focus { background-tint: $accent 20%; }
    }
    """

    BINDINGS = FocusableMessage.BINDINGS  # Static inherits no bindings, so they are named again here

    def __init__(self, text: str, *, message_id: str | None = None) -> None:
        super().__init__(text, markup=False)
        self.message_id = message_id
        """None while the message is drawn on Enter and not stored yet (ConversationView.show_pending)."""
        self.source = text

    def adopt(self, stored: Message) -> None:
        """The message drawn on Enter is now stored as `stored`: take its id, and its text if the turn changed it."""
        self.message_id = stored.id
        if stored.content != self.source:
            self.source = stored.content
            self.update(stored.content)


class MessageMarkdown(Markdown):
    """Markdown whose own margins space it from its neighbours: its first and last blocks add no blank lines."""

    # Whole `margin` values: in Textual a rule's `margin-bottom` replaces all four sides of a weaker rule's margin.
    DEFAULT_CSS = """
    MessageMarkdown {
        & > MarkdownHeader:first-child, & > MarkdownFence:first-child, & > MarkdownBlockQuote:first-child {
            margin: 0 0 1 0;
        }
        & > MarkdownParagraph:last-child, & > MarkdownBulletList:last-child, & > MarkdownOrderedList:last-child,
        & > MarkdownTable:last-child, & > MarkdownHorizontalRule:last-child {
            margin: 0;
        }
        & > MarkdownFence:last-child, & > MarkdownBlockQuote:last-child {
            margin: 1 0 0 0;
        }
    }
    """


class AssistantMessage(MessageMarkdown, FocusableMessage, can_focus=True):
    """An assistant reply rendered as Markdown; `-interrupted` marks a reply that was cut short."""

    DEFAULT_CSS = """
    AssistantMessage {
        margin: 1 0 0 0;
        padding: 0 1 0 2;
        &:focus { background-tint: $accent 20%; }
        &.-empty {
            display: none;
        }
        &.-interrupted {
            border-bottom: dashed $warning;
            border-subtitle-color: $text-warning;
            border-subtitle-align: left;
        }
    }
    """

    def __init__(self, text: str = "", *, message_id: str | None = None, interrupted: bool = False) -> None:
        super().__init__(text, open_links=False)
        self.message_id = message_id
        self.set_class(not text, "-empty")
        if interrupted:
            self.mark_interrupted()

    def mark_interrupted(self) -> None:
        self.add_class("-interrupted")
        self.border_subtitle = "interrupted"


class ToolCallBlock(Collapsible):
    """One tool call: titled with the tool name and short arguments; shows the arguments and the result.

    A file-writing call also shows the diff of its file below its title, whether the block is folded or not:
    edit_file's from its result, write_file's (or a cut edit_file diff) from the checkpointed change.
    """

    DEFAULT_CSS = """
    ToolCallBlock {
        margin: 1 1 0 1;
        padding: 0;
        border-top: none;
        border-left: tall $secondary 60%;
        CollapsibleTitle {
            width: 1fr;
        }
        Contents {
            padding: 0 0 0 2;
        }
        .tool-arguments {
            color: $text-muted;
        }
        .tool-result {
            margin-top: 1;
            max-height: 20;
            overflow-y: auto;
        }
        .tool-result.-pending {
            color: $text-muted;
            text-style: italic;
        }
        .tool-result.-error {
            color: $text-error;
        }
        .tool-diff {
            height: auto;
        }
        &.-failed {
            border-left: tall $error;
        }
    }
    """

    BINDINGS = [Binding("c", "copy_call", "Copy the call and its result", id="tool-call-copy")]

    def __init__(self, call_id: str | None, name: str, arguments: str, *, message_id: str | None = None) -> None:
        self.call_id = call_id
        self.tool_name = name
        self.arguments = arguments
        self.message_id = message_id
        self.result: str | None = None
        self.state = "running"
        """running, ok, error, or interrupted (the turn ended before the tool did)."""
        self.diff_view: DiffView | None = None
        self._diff_slot = Vertical(classes="tool-diff")
        """Below the title and outside the folded contents, so the diff shows while the block is folded."""
        self._arguments_view = Static(pretty_arguments(arguments), markup=False, classes="tool-arguments")
        self._result_view = Static("running…", markup=False, classes="tool-result -pending")
        super().__init__(self._arguments_view, self._result_view, title=self._title_content())

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield self._diff_slot

    @property
    def written_path(self) -> str | None:
        """The path a file-writing call was given (None for other tools, or arguments without one)."""
        if self.tool_name not in FILE_WRITING_TOOLS:
            return None
        try:
            path = json.loads(self.arguments or "{}").get("path")
        except (json.JSONDecodeError, AttributeError):
            return None
        return path if isinstance(path, str) and path.strip() else None

    @property
    def wants_stored_diff(self) -> bool:
        """A file-writing call that succeeded and whose diff is not on screen yet (its result had none in full)."""
        return self.state == "ok" and self.diff_view is None and self.call_id is not None \
            and self.written_path is not None

    def show_diff(self, path: str, diff: str, *, note: str | None = None) -> None:
        """Show (or replace) the diff of the file this call wrote; works before or after mounting."""
        if not diff.strip():
            return
        self.diff_view = DiffView(path, diff, note=note)
        if self._diff_slot.is_attached:
            self._diff_slot.remove_children()
            self._diff_slot.mount(self.diff_view)
        else:  # not composed yet: the slot goes in with the diff already inside
            self._diff_slot = Vertical(self.diff_view, classes="tool-diff")

    def set_result(self, content: str, ok: bool) -> None:
        """Fill in the result (works before or after mounting)."""
        self.result = content
        self.state = "ok" if ok else "error"
        shown = content.rstrip() if len(content) <= RESULT_DISPLAY_LIMIT else (
            content[:RESULT_DISPLAY_LIMIT] + f"\n… ({len(content) - RESULT_DISPLAY_LIMIT} more characters)"
        )
        self._result_view.update(shown or "(no output)")
        self._result_view.set_classes(f"tool-result {'-ok' if ok else '-error'}")
        self.set_class(not ok, "-failed")
        self.title = self._title_content()
        if ok and self.written_path is not None and (found := diff_in_result(content)) is not None:
            self.show_diff(*found)

    def copy_text(self) -> str:
        """The call as the model made it and what the tool answered (in full, not cut for display)."""
        result = self.result if self.result is not None else "(no result yet)"
        return f"{self.tool_name} {pretty_arguments(self.arguments)}\n\n{result}"

    def action_copy_call(self) -> None:
        self.app.copy_to_clipboard(self.copy_text())
        self.notify(f"The {self.tool_name} call and its result are on the clipboard.", title="Copied", timeout=3,
                    markup=False)

    def mark_unfinished(self) -> None:
        """The turn stopped while this tool was running: it has no result and never will."""
        if self.result is None:
            self.state = "interrupted"
            self._result_view.update("interrupted before the tool finished")
            self.title = self._title_content()

    def _title_content(self) -> Content:
        status = {
            "running": "[$text-muted]… running[/]",
            "ok": "[$text-success]✓[/]",
            "error": "[$text-error]✗ error[/]",
            "interrupted": "[$text-warning]■ interrupted[/]",
        }[self.state]
        return Content.from_markup(
            f"[b]$name[/b] [$text-muted]$args[/] {status}",
            name=self.tool_name, args=short_arguments(self.arguments),
        )


def diff_in_result(content: str) -> tuple[str, str] | None:
    """(path, diff) when a file tool's result ends with the whole diff of its file (edit_file's does)."""
    _summary, _, rest = content.partition("\n")
    lines = rest.splitlines()
    if len(lines) < 3 or not lines[0].startswith("--- ") or not lines[1].startswith("+++ b/"):
        return None
    if lines[-1].startswith(CUT_DIFF_MARK):
        return None  # cut short: the checkpointed change has all of it
    return lines[1].removeprefix("+++ b/"), rest


def short_arguments(arguments: str, limit: int = SHORT_ARGS_LIMIT) -> str:
    """`key=value …` for a block's title; the full arguments are inside the block."""
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        text = " ".join(f"{key}={_short_value(value)}" for key, value in parsed.items())
    else:
        text = " ".join((arguments or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short_value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= 24 else text[:23] + "…"


def pretty_arguments(arguments: str) -> str:
    """Indented JSON when the model produced valid JSON, otherwise exactly what it sent."""
    try:
        return json.dumps(json.loads(arguments or "{}"), indent=2, ensure_ascii=False)
    except json.JSONDecodeError:
        return arguments


NOTICE_TITLES = {
    "report": "◆ report from {author}",
    "task-notice": "⚙ background tasks",
    "background-agent": "◎ from the background agent",
    "question": "? question from an agent (F2 answers open questions)",
    "answer": "✓ your answer",
    "turn-stopped": "■ turn stopped",
    "question-withdrawn": "? question withdrawn",
}


class Notice(MessageMarkdown, FocusableMessage, can_focus=True):
    """A system message in the conversation, framed and titled by its marker so its origin is obvious."""

    DEFAULT_CSS = """
    Notice {
        margin: 1 1 0 1;
        padding: 0 1;
        border: round $foreground 30%;
        border-title-color: $text-muted;
        &:focus { background-tint: $accent 20%; }
        &.-report { border: round $primary; border-title-color: $text-primary; }
        &.-task-notice { border: round $secondary; border-title-color: $text-secondary; }
        &.-background-agent { border: round $accent; border-title-color: $text-accent; }
        &.-question {
            border: heavy $warning;
            background: $warning 10%;
            border-title-color: $text-warning;
            border-title-style: bold;
        }
        &.-answer { border: round $success; border-title-color: $text-success; }
        &.-turn-stopped { border: round $error 60%; border-title-color: $text-error; color: $text-muted; }
        &.-question-withdrawn { color: $text-muted; }
    }
    """

    def __init__(self, text: str, marker: str | None, author: str | None, *, message_id: str | None = None) -> None:
        known = marker in NOTICE_TITLES
        super().__init__(text, classes=f"-{marker}" if known else None, open_links=False)
        self.message_id = message_id
        self.marker = marker
        title = NOTICE_TITLES[marker] if known else "notice"
        self.border_title = Content(title.replace("{author}", author or "a child conversation"))


class CommandOutput(Static, FocusableMessage, can_focus=True):
    """What a slash command answered (`/cost`, `/help`): shown here, in its own words, and never stored."""

    DEFAULT_CSS = """
    CommandOutput {
        margin: 1 1 0 1;
        padding: 0 1;
        border: round $foreground 20%;
        border-title-color: $text-muted;
        color: $text-muted;
        &:focus { background-tint: $accent 20%; }
    }
    """

    BINDINGS = FocusableMessage.BINDINGS

    def __init__(self, command: str, text: str) -> None:
        super().__init__(text, markup=False)
        self.source = text
        self.border_title = Content(command)


class RetryLine(Static):
    """A dim note that the model call failed for a moment and is being retried."""

    DEFAULT_CSS = """
    RetryLine {
        margin: 0 1 0 2;
        color: $text-muted;
        text-style: italic;
    }
    """

    def __init__(self, attempt: int, delay: float, reason: str) -> None:
        super().__init__(f"↻ retrying in {delay:.1f} s (attempt {attempt}): {reason}", markup=False)


class EarlierMessages(Static, can_focus=True):
    """The top row of a long conversation; Enter or a click loads the previous batch of messages."""

    DEFAULT_CSS = """
    EarlierMessages {
        width: 1fr;
        margin: 0 1;
        padding: 0 1;
        color: $text-muted;
        text-align: center;
        &:hover { background: $boost; }
        &:focus { background: $block-cursor-background; color: $block-cursor-foreground; }
    }
    """
    BINDINGS = [Binding("enter", "load", "Load earlier", id="conversation-load-earlier")]

    class Selected(TextualMessage):
        """The person asked for the previous batch of messages."""

    def __init__(self, count: int) -> None:
        super().__init__(markup=False)
        self.count = count

    def on_mount(self) -> None:
        self.set_count(self.count)

    def set_count(self, count: int) -> None:
        """How many messages are still not shown above this row."""
        self.count = count
        noun = "message" if count == 1 else "messages"
        self.update(f"⋯ {count} earlier {noun} (press Enter / click to load)")

    def action_load(self) -> None:
        self.post_message(self.Selected())

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Selected())
