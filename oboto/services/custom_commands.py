"""Custom slash commands: `.oboto/commands/<name>.md`, a prompt template with `$ARGUMENTS` (as Claude Code's).

    ---
    description: Review what changed         # optional: else the template's first line
    argument-hint: "[focus]"                 # optional: shown by /help and tab completion
    ---
    Review the uncommitted changes, paying most attention to $ARGUMENTS.

`/review tests` sends the template with `$ARGUMENTS` replaced by `tests` (without `$ARGUMENTS`, what follows
the command is added below the template). Other front-matter keys are ignored. A file that cannot be used is
left out and reported, with why, by /help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oboto.core.markdown_files import MarkdownFileError, folder_signature, read_markdown, split_front_matter
from oboto.core.names import NAME_RULE, is_valid_name
from oboto.core.text import cut

ARGUMENTS = "$ARGUMENTS"
MAX_COMMAND_BYTES = 64 * 1024
DESCRIPTION_CHARS = 80


@dataclass(frozen=True)
class CustomCommand:
    name: str
    description: str
    argument_hint: str
    template: str
    source: str

    def expand(self, arguments: str) -> str:
        """The prompt this command sends for `arguments` (what the person typed after its name)."""
        if ARGUMENTS in self.template:
            return self.template.replace(ARGUMENTS, arguments)
        return f"{self.template}\n\n{arguments}" if arguments else self.template


@dataclass
class CustomCommandCatalog:
    commands: dict[str, CustomCommand] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class CustomCommands:
    """The workspace's custom commands, re-read whenever a file in the folder changes (cheap to ask per key)."""

    def __init__(self, folder: Path, reserved: frozenset[str]) -> None:
        self.folder = folder
        self.reserved = reserved
        """Built-in command names, which a file cannot take over."""
        self._signature: tuple[Any, ...] | None = None
        self._catalog = CustomCommandCatalog()

    def catalog(self) -> CustomCommandCatalog:
        signature = folder_signature(self.folder)
        if signature != self._signature:
            self._catalog, self._signature = self._load(), signature
        return self._catalog

    def _load(self) -> CustomCommandCatalog:
        catalog = CustomCommandCatalog()
        try:
            files = sorted(path for path in self.folder.glob("*.md") if path.is_file())
        except OSError:
            return catalog
        for path in files:
            try:
                text = read_markdown(path, MAX_COMMAND_BYTES)
            except MarkdownFileError as error:  # its message names the file
                catalog.problems.append(str(error))
                continue
            try:
                command = parse_command(path, text, self.reserved)
            except MarkdownFileError as error:
                catalog.problems.append(f"{path}: {error}")
                continue
            catalog.commands[command.name] = command
        return catalog


def parse_command(path: Path, text: str, reserved: frozenset[str]) -> CustomCommand:
    """The command the file at `path` with `text` defines; MarkdownFileError saying why it cannot be used."""
    name = path.stem.lower()
    if not is_valid_name(name):
        raise MarkdownFileError(f"the command name {path.stem!r} is not allowed: {NAME_RULE}")
    if name in reserved:
        raise MarkdownFileError(f"/{name} is a built-in command; give the file another name")
    front, body = split_front_matter(text, required=False)
    template = body.strip()
    if not template:
        raise MarkdownFileError("the command has no prompt template (write it below the front matter)")
    description = front.get("description", "")
    hint = front.get("argument-hint", front.get("argument_hint", ""))
    for key, value in (("description", description), ("argument-hint", hint)):
        if not isinstance(value, str):
            raise MarkdownFileError(f"{key} must be text, not {value!r}")
    return CustomCommand(name=name, description=cut(description or template.splitlines()[0], DESCRIPTION_CHARS),
                         argument_hint=hint.strip(), template=template, source=str(path))
