"""Snapshots of the question modal and of the main screen in two themes, at 80×24 and 120×40.

Deterministic by construction: fixed sizes, a workspace in tmp_path seeded with fixed text and ids,
no runner and no file watcher, steady (non-blinking) cursors, and the header's sub-title (which
holds the tmp_path) pinned.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from oboto.core.paths import WorkspacePaths
from oboto.core.store import save_document
from oboto.services.conversation_models import Message
from oboto.services.question_models import Question, QuestionBook
from oboto.services.runtime import Runtime
from oboto.testing import ScriptedLLM
from oboto.tui.app import ObotoApp, make_app
from tui_helpers import main_screen_read, settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
pytestmark = pytest.mark.usefixtures("steady_status_clock")  # elapsed times in the status line


def seeded_app(workspace: WorkspacePaths, *, question: bool) -> ObotoApp:
    """A workspace with a short chat, a child conversation and, if asked, one open loop question."""
    runtime = Runtime.open(workspace.root)
    conversations = runtime.conversations
    conversations.create("research")
    conversations.append("research", Message(role="user", content="Compare the two caching libraries."))
    conversations.append("chat", Message(role="user", content="What changed in the parser since Monday?"))
    conversations.append("chat", Message(
        role="assistant",
        content="Two things changed:\n\n1. **Error recovery**: a missing `)` no longer aborts the file.\n"
                "2. **Speed**: tokenising is about 30% faster on large inputs.",
    ))
    if question:
        save_document(workspace.questions, QuestionBook(questions=[Question(
            id="q-0badcafe", question="The staging deploy needs a database. Use the shared Postgres or a new SQLite file?",
            origin="agent-loop", asked_by_task="t-0000beef",
        )]))
    return make_app(runtime=runtime, start_runner=False, watch_files=False)


def steady(pilot: Pilot) -> None:
    """Pin what would differ between runs: the tmp_path in the sub-title and the cursor blink phase."""
    app = pilot.app
    app.sub_title = "project"
    for field in app.screen.query("Input, TextArea"):
        if isinstance(field, (Input, TextArea)):
            field.cursor_blink = False


@pytest.mark.parametrize("size", SIZES)
def test_question_modal_over_the_main_screen(snap_compare, workspace: WorkspacePaths, llm_env: ScriptedLLM,
                                              size: tuple[int, int]) -> None:
    """F2 opened the question modal over the main screen.

    Must be visible: the dimmed main screen behind, with the amber "⚠ 1 question waiting — F2 to answer"
    banner at the top of the sidebar and the title badge "oboto ⚠ 1 question waiting"; the dialog with a
    heavy warning border, "⚠ The agent loop (task t-0000beef) asks (q-0badcafe)", the whole question text,
    the focused "Your answer" input and the key hint "Enter send · Esc answer later".
    """

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, lambda: main_screen_read(pilot.app))
        # The arrival toast is checked by the Pilot tests; cleared (on the main screen, before the modal covers
        # it) so the dialog is seen whole at 80×24.
        pilot.app.clear_notifications()
        steady(pilot)  # the main screen's input shows through the dimmed backdrop
        await pilot.press("f2")
        await pilot.pause()
        steady(pilot)

    assert snap_compare(seeded_app(workspace, question=True), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("theme", ["oboto-light", "ember"])
@pytest.mark.parametrize("size", SIZES)
def test_main_screen_in_a_theme(snap_compare, workspace: WorkspacePaths, llm_env: ScriptedLLM,
                                size: tuple[int, int], theme: str) -> None:
    """The main screen in a shipped theme other than the default.

    Must be visible, in the theme's colours: the header "oboto — project"; the sidebar with
    "Conversations (2)" listing ● chat (2 messages, active) and └ research (1), the empty tasks and
    schedules panels and the stopped agent loop; the chat with the user's question and the assistant's
    Markdown reply (a numbered list with bold words and inline code); the input; the two-row status line
    across the screen; the footer's keys, F1, F2 and ctrl+b first.
    """

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, lambda: main_screen_read(pilot.app))
        pilot.app.theme = theme
        await pilot.pause()
        steady(pilot)

    assert snap_compare(seeded_app(workspace, question=False), terminal_size=size, run_before=run_before)
