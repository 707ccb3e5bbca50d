"""What a small local model gets instead of oboto's full prompt and tool set, so that it can answer at all.

A model of a few hundred million parameters loses the thread in a long system prompt and picks badly among
twenty tools, and it invents paths (the workspace's absolute path in the prompt reads to it like an example).
So it gets a short prompt that names the workspace's files, only the three tools that look at files, each
`path` narrowed to the files and folders that exist (while there are few enough to list), and every tool result
restated as a sentence it can repeat in its answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
RESULT_CHARS_LIMIT = 2000
_SIZE_SUFFIX = re.compile(r"\s+\(\d+(?:\.\d+)? [KMG]?B\)$")
_SEARCH_HIT = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?P<text>.*)$")


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
        self.listing = WorkspaceListing.of(ctx.paths.root)

    def system_prompt(self) -> str:
        listing = self.listing
        named = ", ".join(listing.files) if listing.files else "(none yet)"
        more = "" if listing.complete else ", and more"
        return "\n".join([
            "You are oboto. You help a person with the files of their project.",
            f"The project's files: {named}{more}.",
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
        narrowed = {"type": "object", "properties": properties,
                    "required": [name for name in parameters.get("required") or [] if name in properties]}
        described = {**function, "description": SMALL_MODEL_DESCRIPTIONS[function["name"]], "parameters": narrowed}
        return {**schema, "function": described}

    def _paths_for(self, tool: str) -> list[str]:
        if tool == "read_file":
            return list(self.listing.files)
        return [".", *self.listing.folders]

    def result_text(self, call: ToolCallRequest, result: ToolResult) -> str:
        """The result as a sentence the model can repeat; errors and unknown tools as they are."""
        if not result.ok:
            return result.content
        if call.name == "list_files":
            return _listed(result)
        if call.name == "search_files":
            return _found(result)
        if call.name == "read_file":
            path = (result.data or {}).get("path", "the file")
            return f"{path} says:\n{_cut(result.content)}"
        return _cut(result.content)


def _listed(result: ToolResult) -> str:
    where = (result.data or {}).get("path", ".")
    entries = [_SIZE_SUFFIX.sub("", line) for line in result.content.splitlines()
               if line and not line.startswith(("[", "("))]
    folder = "The project" if where == "." else f"The folder {where}"
    # A folder said in words: "herd/, notes.txt" reads to a small model like the one path "herd/notes.txt".
    entries = [f"{entry[:-1]} (a folder)" if entry.endswith("/") else entry for entry in entries]
    if not entries:
        return f"{folder} holds no files."
    shown = [entry if where == "." else f"{where}/{entry}" for entry in entries]
    return _cut(f"{folder} holds: {', '.join(shown)}.")


def _found(result: ToolResult) -> str:
    hits = [match for line in result.content.splitlines() if (match := _SEARCH_HIT.match(line))]
    if not hits:
        return "No file contains it."
    files = list(dict.fromkeys(hit["path"] for hit in hits))
    lines = [f"{hit['path']} line {hit['line']}: {hit['text'].strip()}" for hit in hits]
    return _cut(f"It is in {', '.join(files)}.\n" + "\n".join(lines))


def _cut(text: str) -> str:
    return text if len(text) <= RESULT_CHARS_LIMIT else text[:RESULT_CHARS_LIMIT] + "\n[... cut]"
