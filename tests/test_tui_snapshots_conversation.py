"""Snapshots of the conversation view after real turns against the scripted model, at 80×24 and 120×40."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from oboto.core.paths import WorkspacePaths
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall
from oboto.tui.app import ObotoApp, make_app
from oboto.tui.widgets.chat_input import ChatInput
from oboto.tui.widgets.conversation import ConversationView
from oboto.tui.widgets.message_widgets import AssistantMessage, ToolCallBlock
from oboto.tui.widgets.status_line import StatusLine
from tui_helpers import main_screen_read, settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
pytestmark = pytest.mark.usefixtures("steady_status_clock")  # elapsed times in the status line

MARKDOWN_REPLY = """\
## What oboto does

oboto is a **multi-agent workspace** for the terminal:

- a foreground chat with the agent
- background tasks and schedules

Start it with `oboto` in a project folder."""
FINAL_REPLY = "The notes list **two** things to do."


def quiet_app(workspace: WorkspacePaths) -> ObotoApp:
    """The real app without a runner or file watching, so nothing moves while the screenshot is taken."""
    return make_app(runtime=Runtime.open(workspace.root), start_runner=False, watch_files=False)


async def send_and_wait(pilot: Pilot, text: str, reply: str) -> None:
    """Type `text`, press Enter, and wait until the turn is over and its final `reply` is drawn."""
    app = pilot.app
    # run_before starts before the main screen has mounted, focused its input and read what it shows.
    await settle(pilot, lambda: isinstance(app.focused, ChatInput) and main_screen_read(app))
    app.focused.cursor_blink = False  # the screenshot must not depend on the blink phase
    app.sub_title = "project"  # the workspace is a temporary folder whose path changes every run
    await pilot.press(*text)
    await pilot.press("enter")
    view = app.screen.query_one(ConversationView)
    await settle(pilot, lambda: not app.screen.replying and [m.source for m in view.query(AssistantMessage)
                                                             if m.display] == [reply], timeout=20)
    # The status line has read what the conversation cost (in a thread, after the turn).
    await settle(pilot, lambda: " tokens, " in app.screen.query_one(StatusLine).content.plain.splitlines()[1])
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_a_short_conversation(snap_compare, workspace: WorkspacePaths, llm_env: ScriptedLLM,
                              size: tuple[int, int]) -> None:
    """The main screen after one exchange: the user message "What does oboto do?" on a tinted band with an
    accent bar, below it the reply rendered as Markdown (the heading "What oboto does", bold "multi-agent
    workspace", a two-item bullet list, inline code `oboto`), followed to the bottom; the empty input shows
    its placeholder; the status line below it says how the turn went and the mode, the conversation with what it
    cost so far, and the model; the
    sidebar and the footer (F1, F2 and ctrl+b first) frame it."""
    llm_env.add(Reply(text=MARKDOWN_REPLY, chunk_size=12))

    async def run_before(pilot: Pilot) -> None:
        await send_and_wait(pilot, "What does oboto do?", MARKDOWN_REPLY)

    assert snap_compare(quiet_app(workspace), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_a_finished_reply_with_an_expanded_tool_call(snap_compare, workspace: WorkspacePaths, llm_env: ScriptedLLM,
                                                     size: tuple[int, int]) -> None:
    """After a turn that called a tool: the user message "What is in notes.md?", then the tool block titled
    "▼ read_file path=notes.md ✓" expanded to show its JSON arguments and the file's text as the result, then the
    final Markdown reply "The notes list **two** things to do."; the view is scrolled to the bottom."""
    (workspace.root / "notes.md").write_text("1. write the tests\n2. ship it\n")
    llm_env.add(
        Reply(tool_calls=[ScriptedToolCall("read_file", {"path": "notes.md"})]),
        Reply(text=FINAL_REPLY),
    )

    async def run_before(pilot: Pilot) -> None:
        await send_and_wait(pilot, "What is in notes.md?", FINAL_REPLY)
        view = pilot.app.screen.query_one(ConversationView)
        view.query_one(ToolCallBlock).collapsed = False
        await pilot.pause()
        view.scroll_end(animate=False)
        await pilot.pause()

    assert snap_compare(quiet_app(workspace), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_a_reply_still_streaming_after_a_tool_call(snap_compare, workspace: WorkspacePaths, llm_env: ScriptedLLM,
                                                   size: tuple[int, int]) -> None:
    """Mid-turn, as the person sees it while the model is still writing: the user message "Summarise the
    notes", the finished tool block "read_file path=notes.md ✓", and below it the reply streamed so far
    ("The notes list two things: **write the tests** and") with no closing text yet. The turn is written
    through the conversation service with fixed deltas (as a turn's observer writes it), and the view draws
    it from the events that publishes, so the frame is the same on every run."""
    from oboto.llm.types import ToolCallRequest
    from oboto.services.conversation_models import Message

    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        await settle(pilot, lambda: isinstance(app.focused, ChatInput) and main_screen_read(app))
        app.focused.cursor_blink = False
        app.sub_title = "project"
        view = app.screen.query_one(ConversationView)
        conversations = app.runtime.conversations
        conversations.append("chat", Message(role="user", content="Summarise the notes"))
        call = ToolCallRequest(id="call-1", name="read_file", arguments='{"path": "notes.md"}')
        conversations.start_stream("chat").finish([call.to_message()])
        conversations.append("chat", Message(role="tool", tool_call_id=call.id, name=call.name,
                                             content="1. write the tests\n2. ship it\n", ok=True))
        stream = conversations.start_stream("chat")
        for delta in ("The notes list ", "two things: ", "**write the tests** ", "and"):
            stream.feed(delta)
        await settle(pilot, lambda: "and" in " ".join(m.source for m in view.query(AssistantMessage))
                     and view.query_one(ToolCallBlock).state == "ok")
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    assert snap_compare(quiet_app(workspace), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_first_run_without_a_model(snap_compare, workspace: WorkspacePaths, size: tuple[int, int]) -> None:
    """With no model configured, a framed setup notice at the top of the main area says "No model is
    configured yet", shows how to set OBOTO_MODEL and a key, and mentions `oboto doctor`; the sidebar and
    input are still there."""

    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        await settle(pilot, lambda: isinstance(app.focused, ChatInput) and main_screen_read(app))
        app.focused.cursor_blink = False
        app.sub_title = "project"
        await pilot.pause()

    assert snap_compare(quiet_app(workspace), terminal_size=size, run_before=run_before)
