"""The file tools, driven through ToolRegistry.execute as an agent would call them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from oboto.agent.tools import file_tools
from oboto.agent.tools.base import ToolContext, ToolRegistry, ToolResult
from oboto.core.config import Settings
from oboto.core.paths import WorkspacePaths

pytestmark = pytest.mark.asyncio

MB = 1024 * 1024


@pytest.fixture
def ctx(workspace: WorkspacePaths, settings: Settings) -> ToolContext:
    return ToolContext(paths=workspace, settings=settings)


@pytest.fixture
def root(workspace: WorkspacePaths) -> Path:
    return workspace.root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the workspace, with a secret the agent must not reach."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("top secret\n")
    return folder


async def call(ctx: ToolContext, name: str, arguments: dict[str, Any] | str) -> ToolResult:
    return await ToolRegistry(file_tools()).execute(name, arguments, ctx)


def assert_refused(result: ToolResult, *fragments: str) -> None:
    assert not result.ok, result.content
    for fragment in fragments:
        assert fragment in result.content, result.content


# read_file


async def test_read_whole_file_returns_plain_text(ctx: ToolContext, root: Path) -> None:
    (root / "notes.txt").write_text("alpha\nbeta\n")
    result = await call(ctx, "read_file", {"path": "notes.txt"})
    assert result.ok
    assert result.content == "alpha\nbeta\n"


async def test_read_partial_file_says_which_lines(ctx: ToolContext, root: Path) -> None:
    (root / "five.txt").write_text("".join(f"line {n}\n" for n in range(1, 6)))
    result = await call(ctx, "read_file", {"path": "five.txt", "offset_line": 2, "max_lines": 2})
    assert result.ok
    assert result.content == "[five.txt: lines 2–3 of 5; continue with offset_line=4]\nline 2\nline 3\n"


async def test_read_past_the_end_is_refused(ctx: ToolContext, root: Path) -> None:
    (root / "short.txt").write_text("one\ntwo")
    result = await call(ctx, "read_file", {"path": "short.txt", "offset_line": 9})
    assert_refused(result, "past the end", "2 lines")


async def test_read_decodes_invalid_utf8_with_replacement(ctx: ToolContext, root: Path) -> None:
    (root / "latin.txt").write_bytes(b"caf\xe9\n")
    result = await call(ctx, "read_file", {"path": "latin.txt"})
    assert result.ok
    assert result.content == "caf\ufffd\n"


async def test_read_refuses_directory(ctx: ToolContext, root: Path) -> None:
    (root / "src").mkdir()
    assert_refused(await call(ctx, "read_file", {"path": "src"}), "is a directory", "list_files")


async def test_read_refuses_binary_file(ctx: ToolContext, root: Path) -> None:
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert_refused(await call(ctx, "read_file", {"path": "image.png"}), "binary")


async def test_read_refuses_missing_file(ctx: ToolContext) -> None:
    assert_refused(await call(ctx, "read_file", {"path": "nope.txt"}), "nope.txt does not exist")


async def test_read_refuses_file_over_1mb_without_a_range(ctx: ToolContext, root: Path) -> None:
    (root / "big.log").write_bytes((b"x" * 99 + b"\n") * 11_000)
    assert_refused(await call(ctx, "read_file", {"path": "big.log"}), "over the 1 MB limit", "offset_line")


async def test_read_line_range_of_big_file(ctx: ToolContext, root: Path) -> None:
    (root / "big.log").write_bytes(b"".join(f"row {n:07d}\n".encode() for n in range(1, 200_001)))
    assert (root / "big.log").stat().st_size > MB
    result = await call(ctx, "read_file", {"path": "big.log", "offset_line": 150_000, "max_lines": 3})
    assert result.ok
    assert result.content == (
        "[big.log: lines 150000–150002 of 200000; continue with offset_line=150003]\n"
        "row 0150000\nrow 0150001\nrow 0150002\n"
    )


# path confinement (through the tools)


async def test_dotdot_escape_is_refused(ctx: ToolContext, outside: Path) -> None:
    assert_refused(await call(ctx, "read_file", {"path": "../outside/secret.txt"}), "'..' would leave the workspace")
    assert_refused(await call(ctx, "write_file", {"path": "a/../../evil.txt", "content": "x"}), "'..'")
    assert not (outside.parent / "evil.txt").exists()


async def test_absolute_path_outside_is_refused(ctx: ToolContext, outside: Path) -> None:
    result = await call(ctx, "read_file", {"path": str(outside / "secret.txt")})
    assert_refused(result, "outside the workspace")
    assert "top secret" not in result.content


async def test_absolute_path_inside_is_accepted(ctx: ToolContext, root: Path) -> None:
    (root / "inside.txt").write_text("fine\n")
    result = await call(ctx, "read_file", {"path": str(root / "inside.txt")})
    assert result.ok and result.content == "fine\n"


async def test_symlinked_file_pointing_outside_is_refused_for_read_and_write(
    ctx: ToolContext, root: Path, outside: Path
) -> None:
    (root / "link.txt").symlink_to(outside / "secret.txt")
    read = await call(ctx, "read_file", {"path": "link.txt"})
    assert_refused(read, "symlink", "outside the workspace")
    assert "top secret" not in read.content
    assert_refused(await call(ctx, "write_file", {"path": "link.txt", "content": "pwned"}), "symlink")
    assert_refused(await call(ctx, "edit_file", {"path": "link.txt", "old_text": "top", "new_text": "no"}), "symlink")
    assert (outside / "secret.txt").read_text() == "top secret\n"


async def test_dangling_symlink_pointing_outside_is_refused_for_write(
    ctx: ToolContext, root: Path, outside: Path
) -> None:
    (root / "dangling.txt").symlink_to(outside / "new.txt")
    assert_refused(await call(ctx, "write_file", {"path": "dangling.txt", "content": "x"}), "outside the workspace")
    assert not (outside / "new.txt").exists()


async def test_symlinked_directory_pointing_outside_is_refused(ctx: ToolContext, root: Path, outside: Path) -> None:
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    assert_refused(await call(ctx, "read_file", {"path": "linkdir/secret.txt"}), "symlink")
    assert_refused(await call(ctx, "write_file", {"path": "linkdir/new.txt", "content": "x"}), "symlink")
    assert_refused(await call(ctx, "list_files", {"path": "linkdir"}), "symlink")
    assert_refused(await call(ctx, "search_files", {"pattern": "secret", "path": "linkdir"}), "symlink")
    assert not (outside / "new.txt").exists()


async def test_symlink_inside_the_workspace_is_followed(ctx: ToolContext, root: Path) -> None:
    (root / "real.txt").write_text("real\n")
    (root / "alias.txt").symlink_to(root / "real.txt")
    result = await call(ctx, "read_file", {"path": "alias.txt"})
    assert result.ok and result.content == "real\n"


async def test_oboto_state_folder_is_refused(ctx: ToolContext, root: Path) -> None:
    (root / ".oboto" / "notes.txt").write_text("state\n")
    assert_refused(await call(ctx, "read_file", {"path": ".oboto/notes.txt"}), ".oboto/ holds oboto's own state")
    assert_refused(await call(ctx, "write_file", {"path": "src/../.oboto/x.json", "content": "{}"}), ".oboto/")
    assert_refused(await call(ctx, "list_files", {"path": ".oboto"}), ".oboto/")
    assert_refused(await call(ctx, "write_file", {"path": ".OBOTO/x.json", "content": "{}"}), ".oboto/")
    assert not (root / ".oboto" / "x.json").exists()


async def test_empty_and_nul_paths_are_refused(ctx: ToolContext) -> None:
    assert_refused(await call(ctx, "read_file", {"path": ""}), "empty path")
    assert_refused(await call(ctx, "read_file", {"path": "a\x00b"}), "NUL")


# write_file


async def test_write_creates_file_and_folders(ctx: ToolContext, root: Path) -> None:
    result = await call(ctx, "write_file", {"path": "pkg/sub/mod.py", "content": "print('hé')\n"})
    assert result.ok
    assert result.content == "Created pkg/sub/mod.py (1 line, 13 bytes)"
    assert (root / "pkg/sub/mod.py").read_text() == "print('hé')\n"
    assert (root / "pkg/sub/mod.py").stat().st_mode & 0o777 == 0o644


async def test_write_overwrites_and_keeps_the_mode(ctx: ToolContext, root: Path) -> None:
    script = root / "run.sh"
    script.write_text("echo old\n")
    script.chmod(0o755)
    result = await call(ctx, "write_file", {"path": "run.sh", "content": "echo new\n"})
    assert result.ok
    assert result.content == "Overwrote run.sh (1 line, 9 bytes; it had 1 line, 9 bytes): +1 -1 lines"
    assert result.data and result.data["created"] is False
    assert script.read_text() == "echo new\n"
    assert script.stat().st_mode & 0o777 == 0o755


async def test_write_says_how_many_lines_changed(ctx: ToolContext, root: Path) -> None:
    (root / "notes.txt").write_text("one\ntwo\nthree\n")
    result = await call(ctx, "write_file", {"path": "notes.txt", "content": "one\n2\nthree\nfour\n"})
    assert result.content == "Overwrote notes.txt (4 lines, 17 bytes; it had 3 lines, 14 bytes): +2 -1 lines"
    assert result.data and (result.data["added_lines"], result.data["deleted_lines"]) == (2, 1)
    same = await call(ctx, "write_file", {"path": "notes.txt", "content": "one\n2\nthree\nfour\n"})
    assert same.content.endswith(": the content is unchanged")
    (root / "blob.bin").write_bytes(b"\x00\x01")
    over_binary = await call(ctx, "write_file", {"path": "blob.bin", "content": "text\n"})
    assert over_binary.content == "Overwrote blob.bin (1 line, 5 bytes; it had 2 bytes)"


async def test_edit_result_shows_a_diff_capped_for_big_edits(ctx: ToolContext, root: Path) -> None:
    (root / "big.py").write_text("".join(f"line {n}\n" for n in range(200)))
    arguments = {"path": "big.py", "old_text": "line 1", "new_text": "LINE 1", "replace_all": True}
    result = await call(ctx, "edit_file", arguments)
    lines = result.content.splitlines()
    assert lines[0] == "Edited big.py: 111 replacements, +111 -111 lines"
    assert lines[1:3] == ["--- a/big.py", "+++ b/big.py"] and "-line 1" in lines and "+LINE 1" in lines
    assert len(lines) == 62 and lines[-1].startswith("[… ") and "more diff lines" in lines[-1]


async def test_write_without_create_dirs_refuses_missing_folder(ctx: ToolContext, root: Path) -> None:
    result = await call(ctx, "write_file", {"path": "new/file.txt", "content": "x", "create_dirs": False})
    assert_refused(result, "folder new does not exist", "create_dirs")
    assert not (root / "new").exists()


async def test_write_refuses_a_directory(ctx: ToolContext, root: Path) -> None:
    (root / "docs").mkdir()
    assert_refused(await call(ctx, "write_file", {"path": "docs", "content": "x"}), "docs is a directory")
    assert (root / "docs").is_dir()


async def test_write_refuses_content_over_1mb(ctx: ToolContext, root: Path) -> None:
    result = await call(ctx, "write_file", {"path": "huge.txt", "content": "x" * (MB + 1)})
    assert_refused(result, "over the 1 MB limit")
    assert not (root / "huge.txt").exists()


# edit_file


async def test_edit_replaces_unique_text(ctx: ToolContext, root: Path) -> None:
    (root / "app.py").write_text("def f():\n    return 1\n")
    result = await call(ctx, "edit_file", {"path": "app.py", "old_text": "return 1", "new_text": "return 2"})
    assert result.ok
    assert result.content == (
        "Edited app.py: 1 replacement, +1 -1 lines\n"
        "--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,2 @@\n def f():\n-    return 1\n+    return 2"
    )
    assert (root / "app.py").read_text() == "def f():\n    return 2\n"


async def test_edit_not_found_suggests_reading(ctx: ToolContext, root: Path) -> None:
    (root / "app.py").write_text("x = 1\n")
    result = await call(ctx, "edit_file", {"path": "app.py", "old_text": "y = 1", "new_text": "y = 2"})
    assert_refused(result, "old_text was not found in app.py", "read_file")
    assert (root / "app.py").read_text() == "x = 1\n"


async def test_edit_ambiguous_says_how_many_times(ctx: ToolContext, root: Path) -> None:
    (root / "app.py").write_text("x = 1\nx = 1\nx = 1\n")
    result = await call(ctx, "edit_file", {"path": "app.py", "old_text": "x = 1", "new_text": "x = 2"})
    assert_refused(result, "occurs 3 times", "replace_all")
    assert (root / "app.py").read_text() == "x = 1\nx = 1\nx = 1\n"


async def test_edit_replace_all_reports_count(ctx: ToolContext, root: Path) -> None:
    (root / "app.py").write_text("x = 1\nx = 1\nx = 1\n")
    arguments = {"path": "app.py", "old_text": "x = 1", "new_text": "x = 2", "replace_all": True}
    result = await call(ctx, "edit_file", arguments)
    assert result.ok
    assert result.content.splitlines()[0] == "Edited app.py: 3 replacements, +3 -3 lines"
    assert result.data and result.data["replacements"] == 3
    assert (root / "app.py").read_text() == "x = 2\nx = 2\nx = 2\n"


async def test_edit_refuses_empty_or_unchanged_text(ctx: ToolContext, root: Path) -> None:
    (root / "app.py").write_text("x = 1\n")
    assert_refused(await call(ctx, "edit_file", {"path": "app.py", "old_text": "", "new_text": "y"}), "old_text")
    unchanged = await call(ctx, "edit_file", {"path": "app.py", "old_text": "x", "new_text": "x"})
    assert_refused(unchanged, "identical")


# list_files


async def test_list_is_sorted_with_folders_marked_and_sizes(ctx: ToolContext, root: Path) -> None:
    (root / "b.txt").write_text("12345")
    (root / "a").mkdir()
    (root / "a" / "inner.txt").write_text("x")
    result = await call(ctx, "list_files", {})
    assert result.ok
    assert result.content == "a/\nb.txt  (5 B)"


async def test_list_recursive_skips_tool_folders(ctx: ToolContext, root: Path) -> None:
    for folder in ("src", ".git", "node_modules/pkg", "__pycache__", ".venv/lib"):
        (root / folder).mkdir(parents=True)
    (root / "src" / "main.py").write_text("")
    (root / ".git" / "HEAD").write_text("")
    (root / "node_modules" / "pkg" / "index.js").write_text("")
    result = await call(ctx, "list_files", {"recursive": True})
    assert result.ok
    assert result.content.splitlines() == [
        ".git/", ".venv/", "__pycache__/", "node_modules/", "src/", "src/main.py  (0 B)",
    ]


async def test_list_with_pattern_and_truncation(ctx: ToolContext, root: Path) -> None:
    for name in ("c.py", "a.py", "b.py", "notes.md"):
        (root / name).write_text("")
    matched = await call(ctx, "list_files", {"pattern": "*.py"})
    assert matched.content.splitlines() == ["a.py  (0 B)", "b.py  (0 B)", "c.py  (0 B)"]
    truncated = await call(ctx, "list_files", {"max_entries": 2})
    assert truncated.ok and truncated.data and truncated.data["truncated"] is True
    assert "listing stopped at 2 entries" in truncated.content


# search_files


async def test_search_substring_is_case_insensitive_by_default(ctx: ToolContext, root: Path) -> None:
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("import os\nVALUE = 1\nprint(value)\n")
    result = await call(ctx, "search_files", {"pattern": "value"})
    assert result.ok
    assert result.content.splitlines() == [
        "src/app.py:2: VALUE = 1", "src/app.py:3: print(value)", "[2 match(es) in 1 file(s)]",
    ]
    sensitive = await call(ctx, "search_files", {"pattern": "VALUE", "case_sensitive": True})
    assert sensitive.content.splitlines()[:-1] == ["src/app.py:2: VALUE = 1"]


async def test_search_regex_and_glob(ctx: ToolContext, root: Path) -> None:
    (root / "a.py").write_text("def alpha():\n    pass\n")
    (root / "a.txt").write_text("def beta():\n")
    result = await call(ctx, "search_files", {"pattern": r"^def \w+\(", "regex": True, "glob": "*.py"})
    assert result.content.splitlines()[:-1] == ["a.py:1: def alpha():"]


async def test_search_bad_regex_is_a_clear_error(ctx: ToolContext) -> None:
    assert_refused(await call(ctx, "search_files", {"pattern": "(unclosed", "regex": True}), "invalid regular expression")


async def test_search_skips_binary_big_and_tool_files(ctx: ToolContext, root: Path, outside: Path) -> None:
    (root / "blob.bin").write_bytes(b"needle\x00\x01")
    (root / "huge.txt").write_bytes(b"needle\n" + b"x" * (2 * MB))
    (root / "node_modules").mkdir()
    (root / "node_modules" / "dep.js").write_text("needle\n")
    (root / ".oboto" / "state.json").write_text("needle\n")
    (root / "secret-link.txt").symlink_to(outside / "secret.txt")
    (root / "ok.txt").write_text("a needle here\n")
    result = await call(ctx, "search_files", {"pattern": "needle"})
    assert result.content.splitlines()[:-1] == ["ok.txt:1: a needle here"]
    assert "skipped 1 binary file(s)" in result.content
    assert "skipped 1 file(s) over 2 MB" in result.content
    through_link = await call(ctx, "search_files", {"pattern": "top secret"})
    assert through_link.data and through_link.data["matches"] == 0


async def test_search_trims_long_lines_and_truncates(ctx: ToolContext, root: Path) -> None:
    (root / "long.txt").write_text("hit " + "y" * 1000 + "\nhit\nhit\n")
    result = await call(ctx, "search_files", {"pattern": "hit", "max_results": 2})
    lines = result.content.splitlines()
    assert lines[0] == "long.txt:1: hit " + "y" * 296 + "…"
    assert lines[1] == "long.txt:2: hit"
    assert "stopped at 2 matches" in lines[2]
    assert result.data and result.data["truncated"] is True


# arguments and rights


async def test_unknown_argument_is_refused(ctx: ToolContext, root: Path) -> None:
    (root / "a.txt").write_text("x")
    assert_refused(await call(ctx, "read_file", {"path": "a.txt", "encoding": "latin-1"}), "encoding", "Extra inputs")


async def test_wrong_types_are_refused(ctx: ToolContext) -> None:
    assert_refused(await call(ctx, "read_file", {"path": "a.txt", "max_lines": "many"}), "max_lines")
    assert_refused(await call(ctx, "write_file", '{"path": 3, "content": "x"}'), "path")


async def test_read_only_context_refuses_writes_but_reads(
    workspace: WorkspacePaths, settings: Settings, root: Path
) -> None:
    (root / "a.txt").write_text("x = 1\n")
    read_only = ToolContext(paths=workspace, settings=settings, read_only=True)
    assert_refused(await call(read_only, "write_file", {"path": "a.txt", "content": "y"}), "read-only")
    assert_refused(await call(read_only, "edit_file", {"path": "a.txt", "old_text": "1", "new_text": "2"}), "read-only")
    assert (await call(read_only, "read_file", {"path": "a.txt"})).ok
    assert (root / "a.txt").read_text() == "x = 1\n"
    offered = {schema["function"]["name"] for schema in ToolRegistry(file_tools()).schemas(read_only)}
    assert offered == {"read_file", "list_files", "search_files"}


async def test_file_tools_are_fresh_instances() -> None:
    first, second = file_tools(), file_tools()
    assert [tool.name for tool in first] == ["read_file", "write_file", "edit_file", "list_files", "search_files"]
    assert all(a is not b for a, b in zip(first, second))
