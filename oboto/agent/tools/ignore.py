"""What the workspace's ignore files leave out: `.gitignore` (in every folder), `.obotoignore`, `.git/info/exclude`
and the person's global git excludes. Matching is pathspec's GitIgnoreSpec, with git's precedence: a file in a
deeper folder beats one above it, and the folder files beat the global ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pathspec import GitIgnoreSpec

IGNORE_FILES = (".gitignore", ".obotoignore")
INCLUDE_IGNORED_HINT = "include_ignored=true shows them"


def global_excludes_file() -> Path | None:
    """git's `core.excludesFile`, else its default `$XDG_CONFIG_HOME/git/ignore` (`~/.config/git/ignore`)."""
    if shutil.which("git"):
        try:
            found = subprocess.run(["git", "config", "--global", "--get", "core.excludesFile"], capture_output=True,
                                   text=True, timeout=5, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            found = None
        if found is not None and found.returncode == 0 and found.stdout.strip():
            return Path(found.stdout.strip()).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".config") / "git" / "ignore"


def _spec_of(files: list[Path]) -> GitIgnoreSpec | None:
    lines: list[str] = []
    for path in files:
        try:
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
    return GitIgnoreSpec.from_lines(lines) if any(line.strip() for line in lines) else None


class IgnoreRules:
    """The ignore rules of one workspace, read as the folders are visited (one instance per listing or search)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        base = [self.root / ".git" / "info" / "exclude"]
        if (excludes := global_excludes_file()) is not None:
            base.insert(0, excludes)
        self._base = _spec_of(base)
        self._folders: dict[Path, GitIgnoreSpec | None] = {}

    def _folder_spec(self, folder: Path) -> GitIgnoreSpec | None:
        if folder not in self._folders:
            self._folders[folder] = _spec_of([folder / name for name in IGNORE_FILES])
        return self._folders[folder]

    def ignored(self, path: Path, *, is_dir: bool) -> bool:
        """Whether `path` (inside the workspace) is matched by an ignore rule; its folders are not looked at
        (a walk prunes an ignored folder, which covers what lies below it)."""
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        if not relative.parts:
            return False
        suffix = "/" if is_dir else ""
        verdict: bool | None = None
        if self._base is not None:
            verdict = self._base.check_file(relative.as_posix() + suffix).include
        folder = self.root
        for depth, part in enumerate(relative.parts):
            spec = self._folder_spec(folder)
            if spec is not None:
                below = Path(*relative.parts[depth:]).as_posix() + suffix
                found = spec.check_file(below).include
                if found is not None:
                    verdict = found
            folder = folder / part
        return bool(verdict)

    def ignored_within(self, path: Path, *, is_dir: bool) -> bool:
        """Whether `path` or any folder above it (below the root) is ignored: what git would never show."""
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        current = self.root
        for position, part in enumerate(relative.parts):
            current = current / part
            last = position == len(relative.parts) - 1
            if self.ignored(current, is_dir=is_dir if last else True):
                return True
        return False
