"""list_files and search_files leave out what .gitignore (in any folder), .obotoignore and the global git
excludes ignore; include_ignored=true shows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from oboto.agent.tools import file_tools
from oboto.agent.tools.base import ToolContext, ToolRegistry, ToolResult


@pytest.fixture
def ctx(workspace, settings) -> ToolContext:
    return ToolContext(paths=workspace, settings=settings)


@pytest.fixture
def project(workspace, monkeypatch, tmp_path) -> Path:
    """A workspace with a gitignored build/, a nested .gitignore with a negation, an .obotoignore'd file and a
    file only the global git excludes ignore."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    (tmp_path / "xdg" / "git").mkdir(parents=True)
    (tmp_path / "xdg" / "git" / "ignore").write_text("*.swp\n")
    root = workspace.root
    (root / ".gitignore").write_text("build/\n*.log\n")
    (root / ".obotoignore").write_text("secrets.txt\n")
    (root / "build").mkdir()
    (root / "build" / "out.py").write_text("NEEDLE = 'built'\n")
    (root / "src" / "logs").mkdir(parents=True)
    (root / "src" / "app.py").write_text("NEEDLE = 'source'\n")
    (root / "src" / ".gitignore").write_text("!keep.log\n")
    (root / "src" / "keep.log").write_text("NEEDLE kept\n")
    (root / "src" / "noise.log").write_text("NEEDLE noise\n")
    (root / "secrets.txt").write_text("NEEDLE secret\n")
    (root / "notes.swp").write_text("NEEDLE swap\n")
    return root


async def call(ctx: ToolContext, name: str, arguments: dict[str, Any]) -> ToolResult:
    return await ToolRegistry(file_tools()).execute(name, arguments, ctx)


async def test_search_files_skips_ignored_files_and_says_so(project, ctx) -> None:
    result = await call(ctx, "search_files", {"pattern": "NEEDLE"})
    found = {line.split(":")[0] for line in result.content.splitlines() if not line.startswith("[")}
    assert found == {"src/app.py", "src/keep.log"}  # the nested !keep.log un-ignores it
    assert "ignored file(s) or folder(s); include_ignored=true shows them" in result.content


async def test_search_files_with_include_ignored_searches_everything(project, ctx) -> None:
    result = await call(ctx, "search_files", {"pattern": "NEEDLE", "include_ignored": True})
    found = {line.split(":")[0] for line in result.content.splitlines() if not line.startswith("[")}
    assert found == {"build/out.py", "src/app.py", "src/keep.log", "src/noise.log", "secrets.txt", "notes.swp"}


async def test_list_files_hides_ignored_entries_unless_asked(project, ctx) -> None:
    listed = await call(ctx, "list_files", {"recursive": True})
    names = {line.split("  ")[0] for line in listed.content.splitlines() if not line.startswith("[")}
    assert "build/" not in names and "build/out.py" not in names and "secrets.txt" not in names
    assert "notes.swp" not in names and "src/noise.log" not in names
    assert {"src/app.py", "src/keep.log", ".gitignore"} <= names
    assert listed.data["ignored"] == 4 and "[4 ignored entries not shown" in listed.content
    everything = await call(ctx, "list_files", {"recursive": True, "include_ignored": True})
    assert {"build/", "build/out.py", "secrets.txt", "notes.swp", "src/noise.log"} <= {
        line.split("  ")[0] for line in everything.content.splitlines()}


async def test_an_ignored_folder_named_directly_says_how_to_see_it(project, ctx) -> None:
    listed = await call(ctx, "list_files", {"path": "build"})
    assert listed.content == "(build is ignored by the workspace's ignore files; include_ignored=true shows them)"
    searched = await call(ctx, "search_files", {"pattern": "NEEDLE", "path": "build"})
    assert "build is ignored" in searched.content and "built" not in searched.content
    shown = await call(ctx, "list_files", {"path": "build", "include_ignored": True})
    assert "out.py" in shown.content
