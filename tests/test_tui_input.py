"""The chat input from the keyboard: ↑/↓ through what was sent (kept per workspace), and multi-line paste."""

from __future__ import annotations

from textual import events

from oboto.core.paths import WorkspacePaths
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM
from oboto.tui.widgets.chat_input import ChatInput
from tui_helpers import running_app, settle


def stored_user_messages(app) -> list[str]:
    return [message.content for message in app.runtime.conversations.messages("chat") if message.role == "user"]


async def test_up_and_down_go_through_what_was_sent_and_it_is_kept_for_the_workspace(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    seeded = Runtime.open(workspace.root).input_history
    seeded.add("explain the parser")
    seeded.add("first line\nsecond line")
    llm_env.add(Reply(text="Done."))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        chat_input = app.screen.query_one(ChatInput)
        await settle(pilot, lambda: len(chat_input.sent) == 2)  # read in a thread
        await pilot.press("d", "r", "a", "f", "t")
        await pilot.press("up")  # the newest, a multi-line one, with the cursor at its end
        assert chat_input.text == "first line\nsecond line" and chat_input.cursor_location == (1, 11)
        await pilot.press("up")  # inside the recalled text: the cursor moves up first
        assert chat_input.text == "first line\nsecond line" and chat_input.cursor_location[0] == 0
        await pilot.press("up")
        assert chat_input.text == "explain the parser"
        await pilot.press("up")  # nothing older: it stays
        assert chat_input.text == "explain the parser"
        await pilot.press("down")
        assert chat_input.text == "first line\nsecond line"
        await pilot.press("down", "down")  # to its last line, then past the newest: the draft is back
        assert chat_input.text == "draft"

        chat_input.clear()
        await pilot.press("up", "up", "up", "enter")  # past the multi-line one (its two lines) to the older one
        await settle(pilot, lambda: not app.screen.replying and stored_user_messages(app) == ["explain the parser"])
    async with running_app(workspace, start_runner=False) as (app, pilot):
        chat_input = app.screen.query_one(ChatInput)
        await settle(pilot, lambda: len(chat_input.sent) == 3)
        await pilot.press("up")  # a new session recalls what the last one sent
        assert chat_input.text == "explain the parser"


async def test_an_edited_recall_becomes_the_draft(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    seeded = Runtime.open(workspace.root).input_history
    seeded.add("older")
    seeded.add("newer")
    async with running_app(workspace, start_runner=False) as (app, pilot):
        chat_input = app.screen.query_one(ChatInput)
        await settle(pilot, lambda: len(chat_input.sent) == 2)
        await pilot.press("up", "!")
        assert chat_input.text == "newer!"
        await pilot.press("up", "down")  # away and back: the edit is kept, not lost to the recalled text
        assert chat_input.text == "newer!"


async def test_a_pasted_block_is_inserted_whole_and_sent_as_one_message(workspace: WorkspacePaths,
                                                                        llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="Thanks for the log."))
    pasted = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom"
    async with running_app(workspace, start_runner=False) as (app, pilot):
        chat_input = app.screen.query_one(ChatInput)
        await pilot.press("w", "h", "y", "space")
        app.post_message(events.Paste(pasted))
        await settle(pilot, lambda: chat_input.text == "why " + pasted)
        assert stored_user_messages(app) == [] and not llm_env.requests  # nothing was sent line by line
        await pilot.press("enter")
        await settle(pilot, lambda: not app.screen.replying and stored_user_messages(app) == ["why " + pasted])
        assert len(llm_env.requests) == 1
