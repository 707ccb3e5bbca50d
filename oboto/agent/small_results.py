"""Tool results restated for a small local model as sentences that already answer, each naming its file.

A model of a few hundred million parameters answers by repeating one line of what it was shown, so the line
it is likely to repeat must hold the answer's key fact together with the file it comes from: a setting as
"config.toml sets server.port to 8765.", a text file as one paragraph after its name, a listing as one
sentence of names. Code stays as it is, line by line (its layout is its meaning).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from typing import Any

import yaml

RESULT_CHARS_LIMIT = 2000
SETTINGS_LIMIT = 40
"""Settings restated one per line; a bigger settings file is shown as it is."""
_SIZE_SUFFIX = re.compile(r"\s+\(\d+(?:\.\d+)? [KMG]?B\)$")
_SEARCH_HIT = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?P<text>.*)$")
_HEADING = re.compile(r"^#+\s*")
_PROSE_SUFFIXES = (".md", ".markdown", ".txt", ".rst")
_SETTINGS_READERS = {
    ".toml": tomllib.loads,
    ".yaml": yaml.safe_load,
    ".yml": yaml.safe_load,
    ".json": json.loads,
}


def read_text(path: str, content: str) -> str:
    """A whole file's content as the model sees it: settings one sentence each, prose one paragraph."""
    settings = _settings_sentences(path, content)
    if settings is not None:
        return cut("\n".join(settings))
    if path.lower().endswith(_PROSE_SUFFIXES):
        return cut(f"{path} says: {_paragraph(content)}")
    return f"{path} says:\n{cut(content)}"


def listing_text(where: str, content: str) -> str:
    entries = [_SIZE_SUFFIX.sub("", line) for line in content.splitlines()
               if line and not line.startswith(("[", "("))]
    folder = "The project" if where == "." else f"The folder {where}"
    # A folder said in words: "herd/, notes.txt" reads to a small model like the one path "herd/notes.txt".
    entries = [f"{entry[:-1]} (a folder)" if entry.endswith("/") else entry for entry in entries]
    if not entries:
        return f"{folder} holds no files."
    shown = [entry if where == "." else f"{where}/{entry}" for entry in entries]
    return cut(f"{folder} holds: {', '.join(shown)}.")


def search_text(pattern: str, content: str) -> str | None:
    """The files found first, then each line as "<file> line <n>: …"; None when nothing was found."""
    hits = [match for line in content.splitlines() if (match := _SEARCH_HIT.match(line))]
    if not hits:
        return None
    files = list(dict.fromkeys(hit["path"] for hit in hits))
    lines = [f"{hit['path']} line {hit['line']}: {hit['text'].strip()}" for hit in hits]
    return cut(f"{pattern} is in {', '.join(files)}.\n" + "\n".join(lines))


def cut(text: str) -> str:
    return text if len(text) <= RESULT_CHARS_LIMIT else text[:RESULT_CHARS_LIMIT] + "\n[... cut]"


def _paragraph(content: str) -> str:
    """Lines joined into one paragraph, a heading ended like a sentence."""
    sentences = []
    for line in content.splitlines():
        text = line.strip()
        if not text:
            continue
        if _HEADING.match(text):
            text = _HEADING.sub("", text).rstrip(".:") + "."
        sentences.append(text)
    return " ".join(sentences)


def _settings_sentences(path: str, content: str) -> list[str] | None:
    """ "<file> sets <key> to <value>." per setting; None for a file that is not a settings file one can read."""
    reader = next((read for suffix, read in _SETTINGS_READERS.items() if path.lower().endswith(suffix)), None)
    if reader is None:
        return None
    try:
        value = reader(content)
    except (ValueError, yaml.YAMLError):
        return None
    settings = list(_flattened("", value))
    if not settings or len(settings) > SETTINGS_LIMIT:
        return None
    return [f"{path} sets {key} to {_said(leaf)}." for key, leaf in settings]


def _flattened(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            yield from _flattened(f"{prefix}.{key}" if prefix else str(key), sub)
    elif prefix:
        yield prefix, value


def _said(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_said(item) for item in value) or "an empty list"
    if value is None:
        return "nothing"
    return str(value)
