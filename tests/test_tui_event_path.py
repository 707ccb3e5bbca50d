"""The one event path to the conversation view: stored ids and outcomes, the same drawing live and after a reload."""

from __future__ import annotations

import orjson
import pytest
import watchfiles

from oboto.core.paths import WorkspacePaths
from oboto.core.store import save_document
from oboto.services.question_models import Question, QuestionBook
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall, async_wait_until
from oboto.tui.messages import SwitchConversation
from oboto.tui.widgets.chat_input import ChatInput
from oboto.tui.widgets.conversation import ConversationView
from oboto.tui.widgets.message_widgets import AssistantMessage, ToolCallBlock
from oboto.tui.widgets.questions_panel import QuestionsPanel
from tui_helpers import running_app, settle

FILE_TEXT = "Error: the build broke on Monday.\nFixed on Tuesday.\n"


def _blocks(app) -> list[ToolCallBlock]:
    return list(app.screen.query_one(ConversationView).query(ToolCallBlock))


def _drawn(blocks: list[ToolCallBlock]) -> list[tuple[str, str, str | None, str]]:
    """What a person sees of each tool block: name, state (✓ or ✗), result and title."""
    return [(block.tool_name, block.state, block.result, str(block.title)) for block in blocks]


async def test_a_successful_result_starting_with_error_shows_ok_live_and_after_a_reload(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    (workspace.root / "build-notes.md").write_text(FILE_TEXT)
    llm_env.add(
        Reply(tool_calls=[ScriptedToolCall("read_file", {"path": "build-notes.md"}),
                          ScriptedToolCall("read_file", {"path": "missing.md"})]),
        Reply(text="The build broke on Monday and was fixed on Tuesday."),
    )
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await pilot.click(ChatInput)
        await pilot.press(*"notes", "enter")
        await settle(pilot, lambda: not app.screen.replying and len(_blocks(app)) == 2
                     and all(block.result is not None for block in _blocks(app)))
        live = _drawn(_blocks(app))
        assert [(name, state) for name, state, _result, _title in live] == [("read_file", "ok"), ("read_file", "error")]
        assert live[0][2] == FILE_TEXT and "✓" in live[0][3]
        assert not _blocks(app)[0].has_class("-failed") and _blocks(app)[1].has_class("-failed")

        # Shown again from the store (switching back to it): the same blocks, drawn the same.
        before = _blocks(app)
        app.screen.post_message(SwitchConversation("chat"))
        await settle(pilot, lambda: len(_blocks(app)) == 2 and not set(_blocks(app)) & set(before))
        assert _drawn(_blocks(app)) == live

    stored = [orjson.loads(line) for line in workspace.conversation_file("chat").read_bytes().splitlines()]
    assert [(record["content"][:6], record["ok"]) for record in stored if record.get("role") == "tool"] == [
        ("Error:", True), ("Error:", False),
    ]
    async with running_app(workspace, start_runner=False) as (app, pilot):  # a new app on the same workspace
        assert _drawn(_blocks(app)) == live


async def test_a_reply_streamed_in_this_process_is_drawn_live_under_its_stored_id(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    async with running_app(workspace, start_runner=False) as (app, pilot):
        view = app.screen.query_one(ConversationView)
        stream = app.runtime.conversations.start_stream("chat", author="helper")
        stream.feed("Half of ")
        await settle(pilot, lambda: [reply.source for reply in view.query(AssistantMessage)] == ["Half of "])
        (widget,) = view.query(AssistantMessage)
        assert widget.message_id == stream.id  # keyed by the id the store keeps it under, before it is stored
        assert app.runtime.conversations.messages("chat") == []
        stream.feed("the answer.")
        stream.finish()
        await settle(pilot, lambda: widget.source == "Half of the answer.")
        (stored,) = app.runtime.conversations.messages("chat")
        assert (stored.id, stored.content) == (widget.message_id, widget.source)
        assert list(view.query(AssistantMessage)) == [widget]  # settled in place, not drawn again
    logged = {orjson.loads(line)["type"] for line in workspace.events.read_bytes().splitlines()}
    assert "conversation:message" in logged
    assert not logged & {"conversation:reply-started", "conversation:reply-text", "conversation:reply-finished"}


async def test_one_watcher_serves_the_runner_and_the_view(workspace: WorkspacePaths, llm_env: ScriptedLLM,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    watches: list[object] = []
    real_awatch = watchfiles.awatch

    def counted_awatch(*paths, **options):
        watches.append(paths)
        return real_awatch(*paths, **options)

    monkeypatch.setattr(watchfiles, "awatch", counted_awatch)
    llm_env.add(Reply(text="done by this process's runner"))
    async with running_app(workspace) as (app, pilot):
        assert app.runtime.watcher.watching
        other_process = Runtime.open(workspace.root)
        record = other_process.tasks.spawn("from another process", "do it")  # the runner must notice the file
        await settle(pilot, lambda: app.runtime.tasks.get(record.id).status == "completed", timeout=20)
        save_document(workspace.questions, QuestionBook(questions=[Question(
            id="q-00000001", question="Which port?", origin="agent-loop")]))  # the view must notice the file
        panel = app.screen.query_one(QuestionsPanel)
        await settle(pilot, lambda: panel.has_class("-waiting"))
        other_process.conversations.post_notice("chat", "Written elsewhere.", marker="background-agent")
        view = app.screen.query_one(ConversationView)
        await settle(pilot, lambda: any(getattr(widget, "source", "") == "Written elsewhere."
                                        for widget in view.children))
        assert len(watches) == 1
    await async_wait_until(lambda: not app.runtime.watcher.watching, timeout=5)  # the last listener left

