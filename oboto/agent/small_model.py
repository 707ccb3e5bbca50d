"""What a small local model gets instead of oboto's full prompt and tool set, so that it can answer at all.

A model of a few hundred million parameters loses the thread in a long system prompt and picks badly among
twenty tools, and it invents paths (the workspace's absolute path in the prompt reads to it like an example).
So it gets a short prompt that names the workspace's files, only the three tools that look at files, each
`path` narrowed to the files and folders that exist (while there are few enough to list), and every tool result
restated as a sentence it can repeat in its answer (agent/small_results.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oboto.agent.small_results import RESULT_CHARS_LIMIT, cut, listing_text, read_text, search_text
from oboto.agent.tools.base import ToolContext, ToolResult
from oboto.agent.tools.ignore import IgnoreRules
from oboto.agent.tools.workspace_paths import iter_workspace_files
from oboto.llm.types import ToolCallRequest

SMALL_MODEL_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "list_files": ("path",),
    "read_file": ("path",),
    "search_files": ("pattern",),
}
"""The tools a small model is offered, each with only the arguments it needs (the others keep their defaults)."""
SMALL_MODEL_DESCRIPTIONS = {
    "list_files": "The files in one folder of the project.",
    "read_file": "What one file says; use it for any question about a file you know.",
    "search_files": "Which files contain a word or a name, such as a function or a setting.",
}
"""Each tool told by the question it answers: the full descriptions are about options a small model never sees."""
LISTED_FILES_LIMIT = 60
"""Files named in the prompt and offered as `path` values; a bigger workspace gets the first ones named, and any
relative path allowed."""


@dataclass(frozen=True)
class WorkspaceListing:
    """The first files of the workspace (as the file tools see it) and the folders that hold them."""

    files: tuple[str, ...]
    folders: tuple[str, ...]
    complete: bool

    @classmethod
    def of(cls, root: Path, limit: int = LISTED_FILES_LIMIT) -> "WorkspaceListing":
        files: list[str] = []
        for path in iter_workspace_files(root, root, IgnoreRules(root)):
            if len(files) == limit:
                return cls._made(files, complete=False)
            files.append(path.relative_to(root).as_posix())
        return cls._made(files, complete=True)

    @classmethod
    def _made(cls, files: list[str], *, complete: bool) -> "WorkspaceListing":
        folders = sorted({"/".join(file.split("/")[:depth]) for file in files for depth in range(1, file.count("/") + 1)})
        return cls(tuple(sorted(files)), tuple(folders), complete)


class SmallModelFit:
    """The prompt, tools and results of one turn of a small model, for the workspace as it is at the turn's start."""

    def __init__(self, ctx: ToolContext) -> None:
        self.root = ctx.paths.root
        self.listing = WorkspaceListing.of(self.root)

    def system_prompt(self) -> str:
        listing = self.listing
        named = ", ".join(listing.files) if listing.files else "(none yet)"
        more = "" if listing.complete else ", and more"
        return "\n".join([
            "You are oboto. You help a person with the files of their project.",
            f"The project's files: {named}{more}.",
            "When the question names a file, read that file. To see which files there are, list the folder.",
            "Use one tool to look, then answer in one or two sentences with what the tool found.",
        ])

    def schemas(self, schemas: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        """Only the small model's tools, with only its arguments; paths narrowed to what exists."""
        kept = [self._narrowed(schema) for schema in schemas or []
                if schema["function"]["name"] in SMALL_MODEL_ARGUMENTS]
        return kept or None

    def _narrowed(self, schema: dict[str, Any]) -> dict[str, Any]:
        function = schema["function"]
        parameters = function.get("parameters") or {}
        wanted = SMALL_MODEL_ARGUMENTS[function["name"]]
        properties = {name: dict(spec) for name, spec in (parameters.get("properties") or {}).items()
                      if name in wanted}
        if "path" in properties and self.listing.complete:
            properties["path"]["enum"] = self._paths_for(function["name"])
        # Every argument required: a call then names what it looks at first, and that picks the tool (a folder
        # to list, a file to read), where an optional one let "list the files" start like any other call.
        narrowed = {"type": "object", "properties": properties, "required": list(properties)}
        described = {**function, "description": SMALL_MODEL_DESCRIPTIONS[function["name"]], "parameters": narrowed}
        return {**schema, "function": described}

    def _paths_for(self, tool: str) -> list[str]:
        if tool == "read_file":
            return list(self.listing.files)
        return [".", *self.listing.folders]

    def result_text(self, call: ToolCallRequest, result: ToolResult) -> str:
        """The result as sentences the model can repeat (agent/small_results.py); errors and unknown tools as
        they are."""
        if not result.ok:
            return result.content
        data = result.data or {}
        if call.name == "list_files":
            return listing_text(data.get("path", "."), result.content)
        if call.name == "search_files":
            pattern = _argument(call, "pattern")
            return search_text(pattern, result.content) or self._nothing_found(pattern)
        if call.name == "read_file" and data.get("first_line", 1) == 1 and data.get("last_line") == data.get(
                "total_lines"):
            return read_text(data.get("path", "the file"), result.content)
        return cut(result.content)

    def _nothing_found(self, pattern: str) -> str:
        """A search for a file's name finds nothing inside the files, but the person meant that file: it is read."""
        named = self._named_file(pattern)
        if named is None:
            return f"No file contains {pattern}."
        try:
            with (self.root / named).open(encoding="utf-8", errors="replace") as handle:
                content = handle.read(RESULT_CHARS_LIMIT)
        except OSError:
            return f"No file contains {pattern}, but {named} is a file of the project."
        # Just the file as read_file gives it: any note before it is what a small model repeats instead.
        return read_text(named, content)

    def _named_file(self, pattern: str) -> str | None:
        wanted = pattern.strip().strip("\"'`").lower()
        return next((file for file in self.listing.files
                     if wanted in (file.lower(), file.rsplit("/", 1)[-1].lower())), None)


def _argument(call: ToolCallRequest, name: str) -> str:
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        return ""
    return str(arguments.get(name, "")) if isinstance(arguments, dict) else ""
