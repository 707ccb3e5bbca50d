"""Built-in agent tools, grouped so callers can pick the sets an agent gets."""

from __future__ import annotations

from oboto.agent.tools.base import Tool
from oboto.agent.tools.files import EditFile, ListFiles, ReadFile, SearchFiles, WriteFile
from oboto.agent.tools.shell import RunCommand


def file_tools() -> list[Tool]:
    """read_file, write_file, edit_file, list_files, search_files (fresh instances)."""
    return [ReadFile(), WriteFile(), EditFile(), ListFiles(), SearchFiles()]


def shell_tools() -> list[Tool]:
    """run_command (a fresh instance)."""
    return [RunCommand()]
