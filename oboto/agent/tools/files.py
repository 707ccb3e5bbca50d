"""File tools: read, write, edit, list and search files, all confined to the workspace."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
import stat
from pathlib import Path

from pydantic import Field, model_validator

from oboto.agent.changes import report_written
from oboto.agent.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult
from oboto.agent.tools.file_access import (
    BINARY_SNIFF_BYTES,
    MAX_READ_BYTES,
    MAX_WRITE_BYTES,
    human_size,
    looks_binary,
    opened,
    read_bytes,
    read_lines,
    read_text_if_small,
    write_bytes,
)
from oboto.agent.tools.ignore import INCLUDE_IGNORED_HINT, IgnoreRules
from oboto.agent.tools.text_diff import line_changes, line_count, lines_word, short_diff
from oboto.agent.tools.workspace_paths import (
    SKIPPED_DIRS,
    display_path,
    file_diff,
    iter_workspace_files,
    path_subject,
    resolve_in_workspace,
)
from oboto.core.paths import OBOTO_DIR_NAME

MAX_SEARCH_FILE_BYTES = 2 * 1024 * 1024
MAX_MATCH_LINE_CHARS = 300
NEW_FILE_MODE = 0o644


def _require_regular_file(root: Path, path: Path) -> None:
    name = display_path(root, path)
    if path.is_dir():
        raise ToolError(f"{name} is a directory; use list_files to see what it holds")
    if not path.is_file():
        raise ToolError(f"{name} is not a regular file")


class ReadFileArgs(ToolArgs):
    path: str = Field(description="File to read, relative to the workspace root (e.g. 'src/app.py').")
    offset_line: int = Field(1, ge=1, description="First line to return (1-based). Use it to page through long files.")
    max_lines: int = Field(
        2000, ge=1, le=100_000, description="Most lines to return. Give a range to read files over 1 MB in parts."
    )


class ReadFile(Tool):
    """Read a text file of the workspace, whole or a range of lines."""

    name = "read_file"
    description = (
        "Read a UTF-8 text file in the workspace. Returns the plain text (no line numbers); when only part of the "
        "file is returned, a first line says which lines of how many. Files over 1 MB need offset_line/max_lines."
    )
    Args = ReadFileArgs

    def subject(self, args: ReadFileArgs, ctx: ToolContext) -> tuple[str | None, list[str]]:
        return path_subject(ctx.paths.root, args.path)

    async def run(self, args: ReadFileArgs, ctx: ToolContext) -> ToolResult:
        return await asyncio.to_thread(self._read, args, ctx.paths.root)

    def _read(self, args: ReadFileArgs, root: Path) -> ToolResult:
        path = resolve_in_workspace(root, args.path, must_exist=True)
        _require_regular_file(root, path)
        name = display_path(root, path)
        with opened(root, path) as handle:
            if looks_binary(handle.read(BINARY_SNIFF_BYTES)):
                raise ToolError(f"{name} looks like a binary file (it contains NUL bytes); read_file only reads text")
            handle.seek(0)
            size = os.fstat(handle.fileno()).st_size
            range_given = bool({"offset_line", "max_lines"} & args.model_fields_set)
            if size > MAX_READ_BYTES and not range_given:
                raise ToolError(
                    f"{name} is {human_size(size)}, over the 1 MB limit for a whole read; read it in parts with "
                    "offset_line and max_lines (e.g. offset_line=1, max_lines=500), or find what you need with "
                    "search_files"
                )
            lines, total, cut_short = read_lines(handle, args.offset_line, args.max_lines)
        if total == 0:
            return ToolResult.success(f"({name} is empty)", path=name, total_lines=0)
        if not lines:
            if cut_short:
                raise ToolError(f"line {args.offset_line} of {name} alone is over 1 MB; use search_files instead")
            raise ToolError(f"offset_line {args.offset_line} is past the end of {name}, which has {total} lines")
        first, last = args.offset_line, args.offset_line + len(lines) - 1
        text = "".join(lines)
        if first > 1 or last < total:
            notes = [f"{name}: lines {first}–{last} of {total}"]
            if cut_short:
                notes.append("stopped early at the 1 MB output limit")
            if last < total:
                notes.append(f"continue with offset_line={last + 1}")
            text = f"[{'; '.join(notes)}]\n{text}"
        return ToolResult.success(text, path=name, first_line=first, last_line=last, total_lines=total)


class WriteFileArgs(ToolArgs):
    path: str = Field(description="File to create or replace, relative to the workspace root.")
    content: str = Field(description="The complete new content of the file (at most 1 MB as UTF-8).")
    create_dirs: bool = Field(True, description="Create missing parent folders.")


class WriteFile(Tool):
    """Create a file or replace its whole content, atomically."""

    name = "write_file"
    description = (
        "Create a file or replace its whole content (atomic: readers never see a half-written file). "
        "To change part of an existing file, prefer edit_file."
    )
    Args = WriteFileArgs
    tier = "write"

    def subject(self, args: WriteFileArgs, ctx: ToolContext) -> tuple[str | None, list[str]]:
        return path_subject(ctx.paths.root, args.path)

    def preview(self, args: WriteFileArgs, ctx: ToolContext) -> str | None:
        root = ctx.paths.root
        path = resolve_in_workspace(root, args.path)
        old = read_bytes(root, path).decode("utf-8", errors="replace") if path.is_file() else ""
        return file_diff(display_path(root, path), old, args.content, created=not path.exists())

    async def run(self, args: WriteFileArgs, ctx: ToolContext) -> ToolResult:
        result = await asyncio.to_thread(self._write, args, ctx.paths.root)
        report_written(ctx, result.data["path"])  # type: ignore[index]
        return result

    def _write(self, args: WriteFileArgs, root: Path) -> ToolResult:
        data = args.content.encode("utf-8")
        if len(data) > MAX_WRITE_BYTES:
            raise ToolError(
                f"content is {human_size(len(data))}, over the 1 MB limit for write_file; split it into smaller files"
            )
        path = resolve_in_workspace(root, args.path)
        name = display_path(root, path)
        if path.is_dir():
            raise ToolError(f"{name} is a directory; give the path of a file to write")
        existed = path.exists()
        if existed and not path.is_file():
            raise ToolError(f"{name} is not a regular file")
        parent = path.parent
        if not parent.exists() and not args.create_dirs:
            raise ToolError(
                f"folder {display_path(root, parent)} does not exist; set create_dirs=true to create it"
            )
        old = path.stat() if existed else None
        previous = read_text_if_small(root, path) if old else None
        # The old file's mode is kept, or a usual one given to a new file (not the temp file's 0600).
        write_bytes(root, path, data, mode=stat.S_IMODE(old.st_mode) if old else NEW_FILE_MODE,
                    create_dirs=args.create_dirs)
        lines = line_count(args.content)
        if old is None:
            return ToolResult.success(f"Created {name} ({lines_word(lines)}, {len(data)} bytes)", path=name,
                                      bytes=len(data), lines=lines, created=True)
        before = f"it had {old.st_size} bytes"
        changes = line_changes(previous, args.content) if previous is not None else None
        if previous is not None:
            before = f"it had {lines_word(line_count(previous))}, {old.st_size} bytes"
        summary = f"Overwrote {name} ({lines_word(lines)}, {len(data)} bytes; {before})"
        if changes is not None:
            summary += f": +{changes[0]} -{changes[1]} lines" if changes != (0, 0) else ": the content is unchanged"
        return ToolResult.success(summary, path=name, bytes=len(data), lines=lines, created=False,
                                  added_lines=changes[0] if changes else None,
                                  deleted_lines=changes[1] if changes else None)


class EditFileArgs(ToolArgs):
    path: str = Field(description="File to edit, relative to the workspace root.")
    old_text: str = Field(
        min_length=1,
        description="Exact text to replace, including whitespace and indentation; copy it from read_file. "
        "Include enough surrounding lines to make it unique.",
    )
    new_text: str = Field(description="Text to put in its place (may be empty to delete old_text).")
    replace_all: bool = Field(False, description="Replace every occurrence instead of requiring exactly one.")

    @model_validator(mode="after")
    def _must_change(self) -> "EditFileArgs":
        if self.old_text == self.new_text:
            raise ValueError("old_text and new_text are identical, so the edit would change nothing")
        return self


class EditFile(Tool):
    """Replace an exact piece of text in a file, atomically."""

    name = "edit_file"
    description = (
        "Edit a text file by exact search and replace: old_text must occur exactly once "
        "(or set replace_all=true). Read the file first so old_text matches character for character."
    )
    Args = EditFileArgs
    tier = "write"

    def subject(self, args: EditFileArgs, ctx: ToolContext) -> tuple[str | None, list[str]]:
        return path_subject(ctx.paths.root, args.path)

    def preview(self, args: EditFileArgs, ctx: ToolContext) -> str | None:
        root = ctx.paths.root
        path = resolve_in_workspace(root, args.path, must_exist=True)
        text = read_bytes(root, path).decode("utf-8")
        if args.old_text not in text:
            return None
        new = text.replace(args.old_text, args.new_text, -1 if args.replace_all else 1)
        return file_diff(display_path(root, path), text, new)

    async def run(self, args: EditFileArgs, ctx: ToolContext) -> ToolResult:
        result = await asyncio.to_thread(self._edit, args, ctx.paths.root)
        report_written(ctx, result.data["path"])  # type: ignore[index]
        return result

    def _edit(self, args: EditFileArgs, root: Path) -> ToolResult:
        path = resolve_in_workspace(root, args.path, must_exist=True)
        _require_regular_file(root, path)
        name = display_path(root, path)
        old = path.stat()
        if old.st_size > MAX_WRITE_BYTES:
            raise ToolError(f"{name} is {human_size(old.st_size)}, over the 1 MB limit for edit_file")
        raw = read_bytes(root, path)
        if looks_binary(raw):
            raise ToolError(f"{name} looks like a binary file (it contains NUL bytes); edit_file only edits text")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ToolError(
                f"{name} is not valid UTF-8 ({error.reason} at byte {error.start}); edit_file only edits UTF-8 text"
            ) from error
        count = text.count(args.old_text)
        if count == 0:
            hint = " (the file uses CRLF line endings)" if "\r\n" in text and "\r\n" not in args.old_text else ""
            raise ToolError(
                f"old_text was not found in {name}{hint}; read the file with read_file and copy the exact text, "
                "including whitespace and indentation"
            )
        if count > 1 and not args.replace_all:
            raise ToolError(
                f"old_text occurs {count} times in {name}; add surrounding lines to make it unique, "
                "or set replace_all=true to replace every occurrence"
            )
        replaced = text.replace(args.old_text, args.new_text, -1 if args.replace_all else 1)
        data = replaced.encode("utf-8")
        if len(data) > MAX_WRITE_BYTES:
            raise ToolError(f"the edited {name} would be {human_size(len(data))}, over the 1 MB limit")
        write_bytes(root, path, data, mode=stat.S_IMODE(old.st_mode), create_dirs=False)
        done = count if args.replace_all else 1
        noun = "replacement" if done == 1 else "replacements"
        changes = line_changes(text, replaced)
        summary = f"Edited {name}: {done} {noun}"
        if changes is not None:
            summary += f", +{changes[0]} -{changes[1]} lines"
        diff = short_diff(name, text, replaced)
        return ToolResult.success(f"{summary}\n{diff}" if diff else summary, path=name, replacements=done, diff=diff,
                                  added_lines=changes[0] if changes else None,
                                  deleted_lines=changes[1] if changes else None)


class ListFilesArgs(ToolArgs):
    path: str = Field(".", description="Folder to list, relative to the workspace root ('.' is the root).")
    pattern: str | None = Field(
        None,
        description="Glob on entry names, e.g. '*.py'; a pattern with '/' is matched against the path below `path`.",
    )
    recursive: bool = Field(
        False, description="Also list sub-folders (skips .git, .venv, node_modules, __pycache__, .oboto)."
    )
    max_entries: int = Field(500, ge=1, le=10_000, description="Most entries to return.")
    include_ignored: bool = Field(
        False, description="Also show what .gitignore, .obotoignore and the global git excludes ignore.")


class ListFiles(Tool):
    """List a folder of the workspace, optionally recursively and filtered by a glob."""

    name = "list_files"
    description = (
        "List files and folders in the workspace, sorted; folders end with '/', files show their size. "
        "Use recursive=true with a pattern such as '*.py' to find files by name."
    )
    Args = ListFilesArgs

    def subject(self, args: ListFilesArgs, ctx: ToolContext) -> tuple[str | None, list[str]]:
        return path_subject(ctx.paths.root, args.path)

    async def run(self, args: ListFilesArgs, ctx: ToolContext) -> ToolResult:
        return await asyncio.to_thread(self._list, args, ctx.paths.root)

    def _list(self, args: ListFilesArgs, root: Path) -> ToolResult:
        base = resolve_in_workspace(root, args.path, must_exist=True)
        name = display_path(root, base)
        if not base.is_dir():
            raise ToolError(f"{name} is a file, not a folder; use read_file to read it")
        ignore = None if args.include_ignored else IgnoreRules(root)
        if ignore is not None and ignore.ignored_within(base, is_dir=True):
            return ToolResult.success(f"({name} is ignored by the workspace's ignore files; {INCLUDE_IGNORED_HINT})",
                                      path=name, entries=0, truncated=False, ignored=1)
        state_dir = root.resolve() / OBOTO_DIR_NAME
        found: list[tuple[tuple[str, ...], str]] = []
        ignored = 0
        truncated = False
        pending = [base]
        while pending and not truncated:
            folder = pending.pop()
            try:
                children = sorted(os.scandir(folder), key=lambda entry: entry.name)
            except OSError as error:
                relative = folder.relative_to(base).as_posix()
                found.append((folder.relative_to(base).parts, f"{relative}/ (cannot be listed: {error.strerror})"))
                continue
            for entry in children:
                entry_path = Path(entry.path)
                if entry_path == state_dir:
                    continue
                relative = entry_path.relative_to(base).as_posix()
                is_dir = entry.is_dir(follow_symlinks=False)
                if ignore is not None and ignore.ignored(entry_path, is_dir=is_dir):
                    ignored += 1
                    continue
                subject = relative if args.pattern and "/" in args.pattern else entry.name
                if args.pattern is None or fnmatch.fnmatch(subject, args.pattern):
                    if len(found) >= args.max_entries:
                        truncated = True
                        break
                    found.append((entry_path.relative_to(base).parts, self._describe(entry, relative, is_dir)))
                if args.recursive and is_dir and entry.name not in SKIPPED_DIRS:
                    pending.append(entry_path)
        lines = [line for _key, line in sorted(found)]
        hidden = f"{ignored} ignored entr{'y' if ignored == 1 else 'ies'} not shown; {INCLUDE_IGNORED_HINT}"
        if not lines:
            empty = f"nothing in {name} matches {args.pattern!r}" if args.pattern else f"{name} is empty"
            return ToolResult.success(f"({empty}{'; ' + hidden if ignored else ''})", path=name, entries=0,
                                      truncated=False, ignored=ignored)
        if truncated:
            lines.append(f"[listing stopped at {args.max_entries} entries; narrow it with path or pattern]")
        if ignored:
            lines.append(f"[{hidden}]")
        return ToolResult.success("\n".join(lines), path=name, entries=len(found), truncated=truncated,
                                  ignored=ignored)

    @staticmethod
    def _describe(entry: os.DirEntry[str], relative: str, is_dir: bool) -> str:
        if entry.is_symlink():
            return f"{relative} -> {os.readlink(entry.path)}"
        if is_dir:
            return f"{relative}/"
        return f"{relative}  ({human_size(entry.stat(follow_symlinks=False).st_size)})"


class SearchFilesArgs(ToolArgs):
    pattern: str = Field(min_length=1, description="Text to look for (a plain substring unless regex=true).")
    path: str = Field(".", description="Folder (searched recursively) or single file, relative to the workspace root.")
    glob: str | None = Field(None, description="Only search files whose name matches this glob, e.g. '*.py'.")
    regex: bool = Field(False, description="Treat pattern as a Python regular expression.")
    case_sensitive: bool = Field(False, description="Match letter case exactly.")
    max_results: int = Field(200, ge=1, le=5000, description="Most matching lines to return.")
    include_ignored: bool = Field(
        False, description="Also search what .gitignore, .obotoignore and the global git excludes ignore.")


class SearchFiles(Tool):
    """Find lines matching a substring or regex in the workspace's text files."""

    name = "search_files"
    description = (
        "Search the text files of the workspace (like grep -rn); returns 'path:line: text' lines. "
        "Skips binary files, files over 2 MB, .git, .venv, node_modules, __pycache__, .oboto, and what the "
        "workspace's .gitignore and .obotoignore ignore (include_ignored=true searches those too)."
    )
    Args = SearchFilesArgs

    def subject(self, args: SearchFilesArgs, ctx: ToolContext) -> tuple[str | None, list[str]]:
        return path_subject(ctx.paths.root, args.path)

    async def run(self, args: SearchFilesArgs, ctx: ToolContext) -> ToolResult:
        return await asyncio.to_thread(self._search, args, ctx.paths.root)

    def _search(self, args: SearchFilesArgs, root: Path) -> ToolResult:
        flags = 0 if args.case_sensitive else re.IGNORECASE
        try:
            matcher = re.compile(args.pattern if args.regex else re.escape(args.pattern), flags)
        except re.error as error:
            raise ToolError(
                f"invalid regular expression {args.pattern!r}: {error}; "
                "fix it, or set regex=false to search for the literal text"
            ) from error
        base = resolve_in_workspace(root, args.path, must_exist=True)
        name = display_path(root, base)
        ignore = None if args.include_ignored else IgnoreRules(root)
        if ignore is not None and ignore.ignored_within(base, is_dir=base.is_dir()):
            return ToolResult.success(f"[{name} is ignored by the workspace's ignore files; {INCLUDE_IGNORED_HINT}]",
                                      matches=0, files=0, truncated=False)
        results: list[str] = []
        ignored: list[Path] = []
        matched_files = skipped_binary = skipped_large = 0
        truncated = False
        for path in [base] if base.is_file() else iter_workspace_files(root, base, ignore, ignored):
            if args.glob and not fnmatch.fnmatch(path.name, args.glob):
                continue
            try:
                if path.stat().st_size > MAX_SEARCH_FILE_BYTES:
                    skipped_large += 1
                    continue
                raw = read_bytes(root, path.resolve())
            except (OSError, ToolError):
                continue
            if looks_binary(raw):
                skipped_binary += 1
                continue
            relative = display_path(root, path)
            text = raw.decode("utf-8", "replace")
            lines = text.split("\n")
            if text.endswith("\n"):
                lines.pop()
            hits = 0
            for number, line in enumerate(lines, start=1):
                if not matcher.search(line):
                    continue
                if len(results) >= args.max_results:
                    truncated = True
                    break
                line = line.rstrip()
                if len(line) > MAX_MATCH_LINE_CHARS:
                    line = line[:MAX_MATCH_LINE_CHARS] + "…"
                results.append(f"{relative}:{number}: {line}")
                hits += 1
            matched_files += hits > 0
            if truncated:
                break
        notes = []
        if truncated:
            notes.append(f"stopped at {args.max_results} matches; narrow it with path, glob or a longer pattern")
        if skipped_binary:
            notes.append(f"skipped {skipped_binary} binary file(s)")
        if skipped_large:
            notes.append(f"skipped {skipped_large} file(s) over 2 MB")
        if ignored:
            notes.append(f"skipped {len(ignored)} ignored file(s) or folder(s); {INCLUDE_IGNORED_HINT}")
        if results:
            summary = f"{len(results)} match(es) in {matched_files} file(s)"
        else:
            summary = f"no matches for {args.pattern!r} in {name}"
        text = "\n".join([*results, f"[{'; '.join([summary, *notes])}]"])
        return ToolResult.success(text, matches=len(results), files=matched_files, truncated=truncated)
