"""Snapshots of file changes in the TUI after a real turn against the scripted model, at 80×24 and 120×40:
the diffs in file tool blocks, the files the turn changed, and the diff view of the whole change (/diff)."""

from __future__ import annotations

from itertools import count

import pytest
from textual.pilot import Pilot

from oboto.core.paths import WorkspacePaths
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall
from oboto.tui.screens.change_diff import ChangeDiffScreen
from oboto.tui.widgets.change_views import TurnChanges
from oboto.tui.widgets.conversation import ConversationView
from oboto.tui.widgets.message_widgets import ToolCallBlock
from test_tui_snapshots_conversation import SIZES, quiet_app, send_and_wait
from tui_helpers import settle

pytestmark = pytest.mark.usefixtures("steady_status_clock")  # elapsed times in the status line

FINAL_REPLY = "Done: the greeting is friendlier and the log is written."


@pytest.fixture(autouse=True)
def fixed_change_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Change ids are random; the frames show them, so here they count up."""
    numbers = count(1)
    monkeypatch.setattr("oboto.services.checkpoints.new_change_id", lambda: f"c-{next(numbers):08x}")


@pytest.fixture
def edited_workspace(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> WorkspacePaths:
    """A turn that edits hello.py (a short diff) and writes a 30-line log (a long one)."""
    (workspace.root / "hello.py").write_text('def greet(name):\n    return "hi " + name\n\nprint(greet("you"))\n')
    llm_env.add(
        Reply(tool_calls=[ScriptedToolCall("edit_file", {"path": "hello.py", "old_text": 'return "hi " + name',
                                                         "new_text": 'return f"Hello, {name}!"'})]),
        Reply(tool_calls=[ScriptedToolCall("write_file", {
            "path": "run.log", "content": "".join(f"step {number}: ok\n" for number in range(1, 31))})]),
        Reply(text=FINAL_REPLY),
    )
    return workspace


async def turn_with_changes(pilot: Pilot) -> ConversationView:
    await send_and_wait(pilot, "Make the greeting friendlier and log the run", FINAL_REPLY)
    view = pilot.app.screen.query_one(ConversationView)
    await settle(pilot, lambda: view.query(TurnChanges) and all(block.diff_view for block in view.query(ToolCallBlock)),
                 timeout=20)
    await pilot.wait_for_scheduled_animations()
    view.scroll_end(animate=False)
    await pilot.pause()
    return view


@pytest.mark.parametrize("size", SIZES)
def test_file_tool_blocks_show_their_diffs_and_the_turn_its_files(snap_compare, edited_workspace: WorkspacePaths,
                                                                  size: tuple[int, int]) -> None:
    """Below the person's message, the folded block "▶ edit_file path=hello.py … ✓" shows its diff open under
    the line "▼ hello.py +1 −1": the hunk header dim, the removed `return "hi " + name` line red, the added
    `return f"Hello, {name}!"` line green, the context lines plain. The block "▶ write_file path=run.log … ✓"
    shows only its folded summary "▶ run.log +30" (the diff is long). After the reply, the turn's summary
    "✎ changed 2 files +31 −1 c-00000001" lists "modified hello.py +1 −1" and "added run.log +30"."""

    async def run_before(pilot: Pilot) -> None:
        await turn_with_changes(pilot)

    assert snap_compare(quiet_app(edited_workspace), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_slash_diff_shows_the_whole_change(snap_compare, edited_workspace: WorkspacePaths,
                                           size: tuple[int, int]) -> None:
    """After the turn, /diff opens the change's view: on top "✎ chat turn changed 2 files +31 −1 c-00000001"
    with its two files, below it the whole coloured diff under the title "oboto diff c-00000001" (the
    `diff --git` header lines bold, hello.py's hunk, then run.log as a new file of added green lines); the
    footer offers Esc to go back."""

    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        await turn_with_changes(pilot)
        await pilot.press(*"/diff")
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, ChangeDiffScreen))
        await pilot.pause()

    assert snap_compare(quiet_app(edited_workspace), terminal_size=size, run_before=run_before)
