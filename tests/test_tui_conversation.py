"""The conversation view and the message box, driven end to end with Pilot against the scripted LLM."""

from __future__ import annotations


import orjson
from textual.app import App, ComposeResult
from textual.errors import NoWidget

from oboto.core.paths import WorkspacePaths
from oboto.services.conversation_models import Message
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall
from oboto.tui.messages import SwitchConversation
from oboto.tui.widgets.chat_input import ChatInput
from oboto.tui.widgets.conversation import ConversationView
from oboto.tui.widgets.message_renderer import BATCH_SIZE, MessageRenderer, batch_start
from oboto.tui.widgets.message_widgets import (
    AssistantMessage,
    EarlierMessages,
    Notice,
    RetryLine,
    ToolCallBlock,
    UserMessage,
    short_arguments,
)
from tui_helpers import running_app, settle

SLOW_TEXT = " ".join(f"word{number}" for number in range(120))


def _view(app) -> ConversationView:
    return app.screen.query_one(ConversationView)


def _replies(app) -> list[AssistantMessage]:
    return list(_view(app).query(AssistantMessage))


def _notices(app, marker: str) -> list[Notice]:
    return [notice for notice in _view(app).query(Notice) if notice.marker == marker]


def _stored(workspace: WorkspacePaths, name: str = "chat") -> list[Message]:
    return Runtime.open(workspace.root).conversations.messages(name)


def _shown_ids(app) -> list[str]:
    """Ids of the stored messages on screen, in screen order (a reply that only called tools has no text to show)."""
    return [widget.message_id for widget in _view(app).children
            if widget.display and getattr(widget, "message_id", None)]


def _on_screen(app, widget) -> bool:
    try:
        return app.screen.find_widget(widget).region.height > 0
    except NoWidget:
        return False


def _visible_ids(messages: list[Message]) -> list[str]:
    return [m.id for m in messages if m.content or m.role != "assistant"]


async def _send(pilot, text: str) -> None:
    await pilot.click(ChatInput)
    await pilot.press(*text)
    await pilot.press("enter")


async def _reply_done(app, pilot) -> None:
    await settle(pilot, lambda: not app.screen.replying)
    await pilot.pause()


async def test_a_sent_message_streams_its_reply_into_the_view_and_is_stored(workspace, llm_env: ScriptedLLM) -> None:
    final = "Hello! Here is **bold** text."
    llm_env.add(Reply(text=final, chunk_size=4, chunk_delay=0.2))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await _send(pilot, "hi there")
        drawn: set[str] = set()

        def reply_drawn() -> bool:
            drawn.update(reply.source for reply in _replies(app))
            return final in drawn

        await settle(pilot, reply_drawn)
        assert any(0 < len(text) < len(final) and final.startswith(text) for text in drawn)  # it grew live
        await _reply_done(app, pilot)
        assert [user.source for user in _view(app).query(UserMessage)] == ["hi there"]
        assert app.screen.query_one(ChatInput).text == ""
        stored = _stored(workspace)
        assert [(m.role, m.content, m.status) for m in stored] == [
            ("user", "hi there", "complete"), ("assistant", final, "complete"),
        ]
        # Each stored message is on screen exactly once, under its stored id.
        assert sorted(_shown_ids(app)) == sorted(_visible_ids(stored))


async def test_a_tool_call_shows_as_a_collapsible_block_with_its_result(workspace, llm_env: ScriptedLLM) -> None:
    (workspace.root / "notes.md").write_text("the secret is 42\n")
    llm_env.add(
        Reply(tool_calls=[ScriptedToolCall("read_file", {"path": "notes.md"}),
                          ScriptedToolCall("read_file", {"path": "missing.md"})]),
        Reply(text="The notes say the secret is 42."),
    )
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await _send(pilot, "notes")
        await _reply_done(app, pilot)
        found, missing = _view(app).query(ToolCallBlock)
        assert (found.tool_name, found.state, found.collapsed) == ("read_file", "ok", True)
        assert "the secret is 42" in (found.result or "")
        assert "path=notes.md" in str(found.title)
        assert missing.state == "error" and missing.has_class("-failed")
        assert [reply.source for reply in _replies(app) if reply.display] == ["The notes say the secret is 42."]
        stored_ids = sorted(_visible_ids(_stored(workspace)))
        assert sorted(_shown_ids(app)) == stored_ids

        # Drawn again from the store (switching back), the same blocks come back filled.
        app.screen.post_message(SwitchConversation("chat"))
        await settle(pilot, lambda: _view(app).shown == "chat" and found not in _view(app).query(ToolCallBlock))
        redrawn = list(_view(app).query(ToolCallBlock))
        assert [(block.state, block.result) for block in redrawn] == [("ok", found.result), ("error", missing.result)]
        assert sorted(_shown_ids(app)) == stored_ids

        await pilot.click(redrawn[0].query_one("CollapsibleTitle"))
        assert not redrawn[0].collapsed


async def test_escape_cancels_a_streaming_reply_and_keeps_it_marked_interrupted(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text=SLOW_TEXT, chunk_size=4, chunk_delay=0.05))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await _send(pilot, "story")
        await settle(pilot, lambda: any(len(reply.source) > 20 for reply in _replies(app)))
        await pilot.press("escape")
        await _reply_done(app, pilot)
        stored = _stored(workspace)
        assert [(m.role, m.status, m.marker) for m in stored] == [
            ("user", "complete", None), ("assistant", "interrupted", None), ("system", "complete", "turn-stopped"),
        ]
        kept = stored[1].content
        assert 0 < len(kept) < len(SLOW_TEXT) and SLOW_TEXT.startswith(kept)
        await settle(pilot, lambda: [reply.source for reply in _replies(app)] == [kept])
        (reply,) = _replies(app)
        assert reply.has_class("-interrupted") and reply.border_subtitle == "interrupted"
        assert len(_notices(app, "turn-stopped")) == 1
        assert sorted(_shown_ids(app)) == sorted(_visible_ids(stored))


async def test_the_input_stays_focused_and_usable_while_a_reply_streams(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text=SLOW_TEXT, chunk_size=4, chunk_delay=0.1))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        chat_input = app.screen.query_one(ChatInput)
        await _send(pilot, "go")
        await settle(pilot, lambda: any(reply.source for reply in _replies(app)))
        await pilot.press(*"next one")
        assert app.screen.focused is chat_input and chat_input.text == "next one"
        await pilot.press("enter")  # refused while replying: the draft is kept for later
        assert app.screen.replying and chat_input.text == "next one"
        await pilot.press("escape")
        await _reply_done(app, pilot)


async def test_a_reply_cut_mid_stream_is_retried_and_drawn_once(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="This first attempt is cut off halfway through", chunk_size=4, fault="drop_midstream"),
                Reply(text="The retried reply."))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await _send(pilot, "hello")
        await _reply_done(app, pilot)
        await settle(pilot, lambda: [reply.source for reply in _replies(app) if reply.display] == ["The retried reply."])
        (retry_line,) = _view(app).query(RetryLine)
        children = list(_view(app).children)
        final = next(reply for reply in _replies(app) if reply.display)
        assert children.index(retry_line) < children.index(final)  # the note comes before the retried text
        stored = _stored(workspace)
        assert [(m.role, m.content) for m in stored] == [("user", "hello"), ("assistant", "The retried reply.")]
        assert sorted(_shown_ids(app)) == sorted(_visible_ids(stored))


async def test_the_view_follows_a_streaming_reply_only_while_the_person_is_at_the_bottom(
    workspace, llm_env: ScriptedLLM
) -> None:
    _write_history(workspace, "chat", 30)
    long_text = "\n\n".join(f"Paragraph {number}." for number in range(25))
    llm_env.add(Reply(text=long_text, chunk_size=50), Reply(text=long_text, chunk_size=10, chunk_delay=0.02))
    async with running_app(workspace, start_runner=False, size=(80, 24)) as (app, pilot):
        view = _view(app)
        await settle(pilot, lambda: view.max_scroll_y > 0 and view.scroll_y == view.max_scroll_y)
        await _send(pilot, "first")
        await _reply_done(app, pilot)
        await settle(pilot, lambda: view.scroll_y == view.max_scroll_y and view.max_scroll_y > 40)

        replies_before = len(_replies(app))
        await _send(pilot, "second")
        await settle(pilot, lambda: len(_replies(app)) == replies_before + 1 and _replies(app)[-1].source)
        view.scroll_home(animate=False)  # the person scrolls up to read while the reply streams
        await _reply_done(app, pilot)
        await settle(pilot, lambda: _replies(app)[-1].source == long_text)
        assert view.scroll_y == 0 and view.max_scroll_y > 80

        view.scroll_end(animate=False)  # back at the bottom: following again
        await pilot.pause()
        app.runtime.conversations.post_notice("chat", "A task finished.", marker="task-notice")
        await settle(pilot, lambda: _notices(app, "task-notice") and view.scroll_y == view.max_scroll_y)


async def test_a_background_task_notice_appears_in_the_view(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="All 3 files were tidied."))
    async with running_app(workspace) as (app, pilot):
        record = app.runtime.tasks.spawn("tidy the files", "tidy everything")
        await settle(pilot, lambda: _notices(app, "task-notice"))
        (notice,) = _notices(app, "task-notice")
        assert record.id in notice.source and "All 3 files were tidied." in notice.source
        assert "background tasks" in str(notice.border_title)


async def test_notices_written_by_another_process_appear_once_even_during_a_turn(
    workspace, llm_env: ScriptedLLM
) -> None:
    llm_env.add(Reply(text=SLOW_TEXT[:200], chunk_size=4, chunk_delay=0.03))
    other_process = Runtime.open(workspace.root)
    async with running_app(workspace, start_runner=False) as (app, pilot):
        other_process.conversations.post_notice("chat", "Loop run 1: all quiet.", marker="background-agent",
                                                author="agent-loop")
        await settle(pilot, lambda: _notices(app, "background-agent"))
        assert "background agent" in str(_notices(app, "background-agent")[0].border_title)

        await _send(pilot, "hello")
        await settle(pilot, lambda: any(reply.source for reply in _replies(app)))
        other_process.conversations.post_notice("chat", "Do you want **X**?", marker="question", author="agent-loop")
        await settle(pilot, lambda: _notices(app, "question"))
        await _reply_done(app, pilot)
        stored = _stored(workspace)
        shown = _shown_ids(app)
        assert len(shown) == len(set(shown)) == len(_visible_ids(stored))
        assert sorted(shown) == sorted(_visible_ids(stored))


def _write_history(workspace: WorkspacePaths, name: str, count: int) -> list[str]:
    """A long conversation written straight to its JSONL file, as years of use would leave it."""
    conversations = Runtime.open(workspace.root).conversations
    if not conversations.exists(name):
        conversations.create(name)
    lines, ids = [], []
    for number in range(count):
        role = "user" if number % 2 == 0 else "assistant"
        message = Message(role=role, content=f"message {number}")
        ids.append(message.id)
        lines.append(orjson.dumps(message.model_dump(mode="json", exclude_none=True)))
    workspace.conversation_file(name).write_bytes(b"\n".join(lines) + b"\n")
    return ids


async def test_a_very_long_conversation_mounts_only_its_last_batch_and_loads_earlier_ones(workspace, llm_env) -> None:
    """Switching cost is bounded by the batch, not the history (timed in bench/tui_switch.py)."""
    ids = _write_history(workspace, "big", 5_000)
    async with running_app(workspace, start_runner=False) as (app, pilot):
        app.screen.post_message(SwitchConversation("big"))
        await settle(pilot, lambda: ids[-1] in _shown_ids(app))
        view = _view(app)
        assert len(view.children) <= BATCH_SIZE + 1
        assert _shown_ids(app) == ids[-BATCH_SIZE:]
        row = view.query_one(EarlierMessages)
        assert row.count == 5_000 - BATCH_SIZE and "4960 earlier messages" in str(row.render())

        oldest = view.children[1]
        row.focus()
        await pilot.press("enter")
        await settle(pilot, lambda: len(_shown_ids(app)) == 2 * BATCH_SIZE)
        assert _shown_ids(app) == ids[-2 * BATCH_SIZE:]
        assert view.query_one(EarlierMessages).count == 5_000 - 2 * BATCH_SIZE
        # The person keeps their place: the message that was oldest is still at the top of the view.
        await settle(pilot, lambda: view.scroll_y == oldest.virtual_region_with_margin.y > 0)


async def test_loading_the_last_earlier_batch_removes_the_row(workspace, llm_env) -> None:
    ids = _write_history(workspace, "medium", BATCH_SIZE + 5)
    async with running_app(workspace, start_runner=False) as (app, pilot):
        app.screen.post_message(SwitchConversation("medium"))
        await settle(pilot, lambda: _view(app).query(EarlierMessages))

        def row_on_screen() -> bool:
            # A loaded machine may still be laying out (and following the bottom): go home until it holds.
            view = _view(app)
            if view.scroll_y != 0:
                view.scroll_home(animate=False)
            return view.scroll_y == 0 and _on_screen(app, view.query_one(EarlierMessages))

        await settle(pilot, row_on_screen)
        await pilot.click(EarlierMessages)
        await settle(pilot, lambda: _shown_ids(app) == ids)
        assert not _view(app).query(EarlierMessages)


def test_batches_never_start_on_a_tool_result() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "list_files", "arguments": "{}"}}
    messages = [Message(role="user", content=f"u{n}") for n in range(10)]
    messages += [Message(role="assistant", tool_calls=[call]), Message(role="tool", tool_call_id="c1", content="a")]
    messages += [Message(role="assistant", content=f"a{n}") for n in range(BATCH_SIZE - 1)]
    start = batch_start(messages, len(messages))
    assert messages[start].role == "assistant" and messages[start].tool_calls


def test_renderer_pairs_results_with_calls_and_marks_unanswered_calls_interrupted() -> None:
    calls = [{"id": f"c{n}", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a"}'}}
             for n in range(2)]
    renderer = MessageRenderer()
    widgets = []
    for message in [
        Message(role="assistant", tool_calls=calls),
        Message(role="tool", tool_call_id="c0", name="read_file", content="text of a"),
        Message(role="system", content="Loop ran.", marker="background-agent"),
        Message(role="user", content="next"),
        Message(role="tool", tool_call_id="zz", name="list_files", content="Error: no such folder"),
    ]:
        widgets += renderer.render(message)
    answered, unanswered, notice, user, orphan = widgets
    assert (answered.state, answered.result) == ("ok", "text of a")
    assert unanswered.state == "interrupted"  # the person spoke again: that call never finished
    assert isinstance(notice, Notice) and isinstance(user, UserMessage)
    assert (orphan.tool_name, orphan.state) == ("list_files", "error")


def test_short_arguments_fit_a_title() -> None:
    assert short_arguments('{"path": "src/app.py", "limit": 20}') == "path=src/app.py limit=20"
    assert short_arguments("not json") == "not json"
    assert len(short_arguments('{"text": "' + "x" * 500 + '"}')) <= 48


class _InputApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def compose(self) -> ComposeResult:
        yield ChatInput()

    def on_chat_input_submitted(self, message: ChatInput.Submitted) -> None:
        self.sent.append(message.text)


async def test_enter_sends_and_shift_enter_or_ctrl_j_start_a_new_line() -> None:
    app = _InputApp()
    async with app.run_test() as pilot:
        chat_input = app.query_one(ChatInput)
        chat_input.focus()
        await pilot.press("a", "shift+enter", "b", "ctrl+j", "c")
        assert chat_input.text == "a\nb\nc" and app.sent == []
        await pilot.press("enter")
        assert app.sent == ["a\nb\nc"]
        chat_input.clear()
        await pilot.press("space", "enter")  # blank messages are not sent
        assert app.sent == ["a\nb\nc"]
