"""Snapshot of the approval prompt at 80×24: a write asks first, with the diff it would apply."""

from __future__ import annotations

import asyncio

import pytest
from textual.pilot import Pilot

from oboto.agent.approvals import ApprovalRequest
from oboto.core.paths import WorkspacePaths
from oboto.testing import ScriptedLLM
from oboto.tui.widgets.approval_prompt import ApprovalRequested
from test_tui_snapshots_chrome import main_screen_read, seeded_app, steady
from tui_helpers import settle

pytestmark = pytest.mark.usefixtures("steady_status_clock")  # elapsed times in the status line

DIFF = """--- a/src/parser.py
+++ b/src/parser.py
@@ -1,4 +1,4 @@
 def parse(text):
-    tokens = text.split()
+    tokens = tokenize(text)
     return build(tokens)
"""


def test_the_approval_prompt_for_an_edit(snap_compare, workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    """An edit waits for the person's decision.

    Must be visible: above the input, a box with a heavy border titled "⚠ Allow edit_file? (write; mode ask)",
    the line "edit_file src/parser.py", the coloured diff (one line removed, one added) and the keys
    "y allow · a always · n deny · d say why", right above the input; the conversation above it; below the
    input, across the screen, the status line's row "mode ask (ctrl+t) · chat · openai/scripted".
    """

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, lambda: main_screen_read(pilot.app))
        pilot.app.runtime.set_permission_mode("ask")
        request = ApprovalRequest(tool="edit_file", tier="write", arguments={"path": "src/parser.py"},
                                  subject="src/parser.py", why="mode ask", preview=DIFF, conversation="chat")
        pilot.app.screen.post_message(ApprovalRequested(request, asyncio.get_running_loop().create_future()))
        await settle(pilot, lambda: pilot.app.screen.query("ApprovalPrompt"))
        pilot.app.clear_notifications()
        await pilot.pause()
        steady(pilot)

    assert snap_compare(seeded_app(workspace, question=False), terminal_size=(80, 24), run_before=run_before)
