"""Markdown files people write for oboto (agent profiles, custom slash commands): YAML front matter, a body.

Reading one and noticing that a folder of them changed are shared here; what the keys mean is the reader's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from oboto.core import safe_open
from oboto.core.safe_open import OBOTO_DIR_NAME


class MarkdownFileError(ValueError):
    """A file that cannot be used, with the reason in plain words (naming the file only when it was not read)."""


def split_front_matter(text: str, *, required: bool) -> tuple[dict[str, Any], str]:
    """The YAML keys between the opening and closing `---` lines, and the body below them.

    Without a leading `---` there is no front matter: an error when `required`, else ({}, the whole text).
    """
    import yaml

    if not text.startswith("---"):
        if required:
            raise MarkdownFileError("a file with front matter starts with a '---' line, then YAML keys, then '---'")
        return {}, text
    head, separator, body = text[3:].partition("\n---")
    if not separator:
        raise MarkdownFileError("the front matter has no closing '---' line")
    try:
        front = yaml.safe_load(head) or {}
    except yaml.YAMLError as error:
        raise MarkdownFileError(f"the front matter is not valid YAML ({' '.join(str(error).split())})") from None
    if not isinstance(front, dict):
        raise MarkdownFileError("the front matter must be YAML keys (name: ..., description: ...)")
    return front, body.partition("\n")[2]


def read_markdown(path: Path, max_bytes: int) -> str:
    """The text of `path`, or MarkdownFileError (naming the file) when it is too large, not UTF-8, unreadable or,
    inside the workspace's `.oboto/`, reached through a link (the person's own files may be dotfile links)."""
    try:
        fd = safe_open.open_file(path, os.O_RDONLY) if OBOTO_DIR_NAME in path.parts else os.open(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            if os.fstat(fd).st_size > max_bytes:
                raise MarkdownFileError(f"{path}: the file is over {max_bytes // 1024} KB")
            return handle.read().decode("utf-8")
    except UnicodeDecodeError:
        raise MarkdownFileError(f"{path}: the file is not UTF-8 text") from None
    except safe_open.UnsafePath as error:
        raise MarkdownFileError(f"{path} {error.strerror}; it was not read") from None
    except OSError as error:
        raise MarkdownFileError(f"{path}: cannot be read ({error.strerror})") from None


def folder_signature(folder: Path) -> tuple[Any, ...]:
    """What changes whenever a `*.md` file in `folder` is added, removed or written (cheap to ask often)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return ()
    signature = []
    for entry in entries:
        if entry.name.endswith(".md"):
            try:
                stat = entry.stat()
            except OSError:
                continue
            signature.append((entry.name, stat.st_mtime_ns, stat.st_size, stat.st_ino))
    return tuple(signature)
