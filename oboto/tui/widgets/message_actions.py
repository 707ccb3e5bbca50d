"""What a focused message in the conversation offers: copy it, copy its code blocks, move to its neighbours.

Messages take the focus (Tab, shift+Tab from the input, ↑/↓ between them), so every action on one is a key on
the focused message, never a mouse selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from markdown_it import MarkdownIt
from textual.binding import Binding, BindingType
from textual.widget import Widget

_MARKDOWN = MarkdownIt("commonmark")


@dataclass(frozen=True)
class CodeBlock:
    """One fenced (or indented) code block of a message's Markdown."""

    code: str
    language: str


def code_blocks(markdown: str) -> list[CodeBlock]:
    """The message's code blocks, in order, as the Markdown parser reads them (so a ``` inside text is not one)."""
    return [CodeBlock(token.content, token.info.split()[0] if token.info.strip() else "")
            for token in _MARKDOWN.parse(markdown) if token.type in ("fence", "code_block")]


class FocusableMessage(Widget):
    """A message that takes the focus: `c` copies it, `b` copies its code blocks one after another.

    It goes second among a widget's bases (`class UserMessage(Static, FocusableMessage, can_focus=True)`):
    Textual takes default CSS from the first base's line only, so the widget keeps its own look.
    """

    HELP_TITLE: ClassVar[str] = "A message in the conversation (Tab or ↑/↓ to reach it)"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy_message", "Copy", id="message-copy"),
        Binding("b", "copy_code", "Copy code", id="message-copy-code"),
    ]

    _next_code_block = 0
    """Which code block `b` copies next (it cycles through them)."""

    def copy_text(self) -> str:
        """The text `c` copies: what the message says, as stored."""
        return str(getattr(self, "source", ""))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`b` shows only on a message with code in it."""
        if action == "copy_code":
            return bool(code_blocks(self.copy_text()))
        return True

    def action_copy_message(self) -> None:
        text = self.copy_text()
        self.app.copy_to_clipboard(text)
        lines = text.count("\n") + 1
        self.notify(f"The message is on the clipboard ({lines} line{'' if lines == 1 else 's'}).", title="Copied",
                    timeout=3, markup=False)

    def action_copy_code(self) -> None:
        blocks = code_blocks(self.copy_text())
        if not blocks:
            return
        index = self._next_code_block % len(blocks)
        self._next_code_block = index + 1
        block = blocks[index]
        self.app.copy_to_clipboard(block.code)
        lines = block.code.count("\n") or 1
        which = f"code block {index + 1} of {len(blocks)}" if len(blocks) > 1 else "the code block"
        language = f" ({block.language})" if block.language else ""
        more = "; b again copies the next" if len(blocks) > 1 else ""
        self.notify(f"Copied {which}{language}, {lines} line{'' if lines == 1 else 's'}{more}.", title="Copied",
                    timeout=3, markup=False)
