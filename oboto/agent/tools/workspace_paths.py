"""Confine the paths agents give to the workspace: no `..` or symlink escape, no access to `.oboto/`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from oboto.agent.tools.base import ToolError
from oboto.agent.tools.ignore import IgnoreRules
from oboto.core.paths import OBOTO_DIR_NAME

SKIPPED_DIRS = frozenset({OBOTO_DIR_NAME, ".git", "__pycache__", "node_modules", ".venv"})
"""Folders that recursive listing and search never enter: oboto's state, VCS data, caches, dependencies."""


def resolve_in_workspace(root: Path, user_path: str, *, must_exist: bool = False) -> Path:
    """The real location of `user_path` (relative to `root`, or absolute inside it), or ToolError saying why not."""
    if not user_path or not user_path.strip():
        raise ToolError("empty path refused: give a path relative to the workspace root, e.g. 'src/app.py' or '.'")
    if "\x00" in user_path:
        raise ToolError("path refused: it contains a NUL byte")
    real_root = root.resolve()
    given = Path(user_path).expanduser()
    if given.is_absolute():
        lexical = Path(os.path.normpath(given))
        if not (lexical.is_relative_to(root) or lexical.is_relative_to(real_root)):
            raise ToolError(
                f"path {user_path!r} refused: it is outside the workspace ({real_root}); "
                "use a path relative to the workspace root"
            )
    else:
        lexical = Path(os.path.normpath(root / given))
        if not lexical.is_relative_to(root):
            raise ToolError(f"path {user_path!r} refused: '..' would leave the workspace")
    # The lexical check alone misses symlinks and `link/..`; the resolved location is what the OS will open.
    try:
        resolved = (root / given).resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop on Python 3.11/3.12
        raise ToolError(f"path {user_path!r} cannot be resolved: {error}") from error
    if not resolved.is_relative_to(real_root):
        raise ToolError(
            f"path {user_path!r} refused: it leads through a symlink to {resolved}, which is outside the workspace"
        )
    inside = resolved.relative_to(real_root).parts
    # Compared case-blind because macOS and Windows file systems would open `.OBOTO/` as `.oboto/`.
    if inside and inside[0].casefold() == OBOTO_DIR_NAME:
        raise ToolError(
            f"path {user_path!r} refused: {OBOTO_DIR_NAME}/ holds oboto's own state; "
            "use the task, schedule, memory and conversation tools instead of editing its files"
        )
    if must_exist and not resolved.exists():
        raise ToolError(f"{display_path(root, resolved)} does not exist; use list_files to see what is there")
    return resolved


def display_path(root: Path, path: Path) -> str:
    """`path` relative to the workspace root, in POSIX style ('.' for the root itself)."""
    for base in (root, root.resolve()):
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    return path.as_posix()


def iter_workspace_files(root: Path, base: Path, ignore: IgnoreRules | None = None,
                         skipped: list[Path] | None = None) -> Iterator[Path]:
    """Regular files below `base` in sorted order, skipping SKIPPED_DIRS, symlinks that leave the workspace and
    what `ignore` ignores (each ignored file or folder is added to `skipped`)."""
    real_root = root.resolve()
    state_dir = real_root / OBOTO_DIR_NAME
    for folder, dirnames, filenames in os.walk(base):
        kept = []
        for name in sorted(dirnames):
            if name in SKIPPED_DIRS:
                continue
            if ignore is not None and ignore.ignored(Path(folder, name), is_dir=True):
                if skipped is not None:
                    skipped.append(Path(folder, name))
                continue
            kept.append(name)
        dirnames[:] = kept
        for filename in sorted(filenames):
            path = Path(folder, filename)
            if ignore is not None and ignore.ignored(path, is_dir=False):
                if skipped is not None:
                    skipped.append(path)
                continue
            if path.is_symlink():
                try:
                    target = path.resolve()
                except (OSError, RuntimeError):
                    continue
                if not target.is_relative_to(real_root) or target.is_relative_to(state_dir):
                    continue
            if path.is_file():
                yield path


def path_subject(root: Path, user_path: str) -> tuple[str | None, list[str]]:
    """What path rules match for `user_path`: its workspace-relative form, and where it really leads when a
    symlink makes that different (so `deny read_file(.env)` also stops a link to `.env`)."""
    if not isinstance(user_path, str) or not user_path.strip() or "\x00" in user_path:
        return None, []
    given = Path(user_path).expanduser()
    lexical = Path(os.path.normpath(given if given.is_absolute() else root / given))
    named = display_path(root, lexical)
    try:
        real = display_path(root, (root / given).resolve())
    except (OSError, RuntimeError):
        real = named
    return named, [real] if real != named else []


def file_diff(name: str, old: str, new: str, *, created: bool = False) -> str:
    """A unified diff of one file's change, as `git diff` shows it."""
    import difflib

    before = "/dev/null" if created else f"a/{name}"
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), before, f"b/{name}")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
