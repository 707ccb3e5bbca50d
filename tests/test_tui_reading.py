"""Reading a conversation from the keyboard: moving between messages, copying one or its code, paging, search."""

from __future__ import annotations

from oboto.core.paths import WorkspacePaths
from oboto.services.conversation_models import Message
from oboto.services.runtime import Runtime
from oboto.testing import ScriptedLLM
from oboto.tui.widgets.chat_input import ChatInput
from oboto.tui.widgets.conversation import ConversationView
from oboto.tui.widgets.conversation_search import SearchBar, SearchHit, find_hits
from oboto.tui.widgets.message_actions import code_blocks
from oboto.tui.widgets.message_widgets import AssistantMessage, EarlierMessages, UserMessage
from tui_helpers import running_app, settle, toasts

REPLY = """Two ways:

```python
print("one")
```

and, in the shell:

```sh
echo two
```

Either works."""


def seed(workspace: WorkspacePaths, messages: list[Message]) -> list[Message]:
    conversations = Runtime.open(workspace.root).conversations
    return [conversations.append("chat", message) for message in messages]


def search_count(app) -> str:
    return str(app.screen.query_one(SearchBar).query_one("#search-count").content)


def test_code_blocks_are_found_by_the_markdown_parser() -> None:
    assert [(block.language, block.code) for block in code_blocks(REPLY)] == [
        ("python", 'print("one")\n'), ("sh", "echo two\n")]
    assert code_blocks("a ``` inside a sentence is not a block") == []


async def test_arrows_move_between_messages_and_c_and_b_copy(workspace: WorkspacePaths,
                                                               llm_env: ScriptedLLM) -> None:
    seed(workspace, [Message(role="user", content="How do I print?"), Message(role="assistant", content=REPLY)])
    async with running_app(workspace, start_runner=False) as (app, pilot):
        view = app.screen.query_one(ConversationView)
        await pilot.press("shift+tab")  # from the input to the newest message
        reply = view.query_one(AssistantMessage)
        assert app.focused is reply
        await pilot.press("c")
        assert app.clipboard == REPLY
        await pilot.press("b")
        assert app.clipboard == 'print("one")\n'
        assert any("code block 1 of 2 (python)" in text for text in toasts(app))
        await pilot.press("b")
        assert app.clipboard == "echo two\n"
        await pilot.press("up")
        question = view.query_one(UserMessage)
        assert app.focused is question
        await pilot.press("c")
        assert app.clipboard == "How do I print?"
        assert question.check_action("copy_code", ()) is False  # no code in it: `b` is not offered
        await pilot.press("down", "down")  # past the newest message: back to the input
        assert app.focused is app.screen.query_one(ChatInput)


async def test_page_keys_from_the_input_and_home_and_end_scroll_the_conversation(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    seed(workspace, [Message(role="user" if number % 2 == 0 else "assistant", content=f"message {number}\n\nmore")
                     for number in range(30)])
    async with running_app(workspace, size=(80, 24), start_runner=False) as (app, pilot):
        view = app.screen.query_one(ConversationView)
        await settle(pilot, lambda: view.max_scroll_y > 0 and view.scroll_y == view.max_scroll_y)
        bottom = view.scroll_y
        await pilot.press("pageup")  # the input has the focus and keeps it
        await settle(pilot, lambda: view.scroll_y < bottom)
        assert app.focused is app.screen.query_one(ChatInput)
        await pilot.press("pagedown")
        await settle(pilot, lambda: view.scroll_y == bottom)
        await pilot.press("shift+tab", "home")
        await settle(pilot, lambda: view.scroll_y == 0)
        await pilot.press("end")
        await settle(pilot, lambda: view.scroll_y == view.max_scroll_y)


def test_hits_name_the_message_or_the_tool_call_that_has_the_words() -> None:
    call = {"id": "call-1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "Notes.md"}'}}
    messages = [Message(id="m1", role="user", content="read my NOTES"),
                Message(id="m2", role="assistant", content="", tool_calls=[call]),
                Message(id="m3", role="tool", tool_call_id="call-1", name="read_file", content="notes: buy milk"),
                Message(id="m4", role="assistant", content="Nothing here.")]
    assert find_hits(messages, "notes") == [SearchHit("m1"), SearchHit("m2", "call-1"), SearchHit("m3", "call-1")]
    assert find_hits(messages, "  ") == []


async def test_ctrl_f_finds_words_in_the_whole_conversation_and_n_goes_to_older_hits(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    contents = [f"message {number}" for number in range(100)]
    for number in (5, 90, 95):
        contents[number] += " with the NEEDLE in it"
    stored = seed(workspace, [Message(role="user" if number % 2 == 0 else "assistant", content=text)
                              for number, text in enumerate(contents)])
    async with running_app(workspace, start_runner=False) as (app, pilot):
        view = app.screen.query_one(ConversationView)
        assert view.query(EarlierMessages)  # message 5 is not mounted yet
        await pilot.press("ctrl+f", "n", "e", "e", "d", "l", "e", "enter")
        await settle(pilot, lambda: search_count(app).startswith("3 of 3"))
        assert getattr(app.focused, "message_id", None) == stored[95].id  # the newest hit first
        assert app.focused.has_class("-search-current")
        await pilot.press("n")
        await settle(pilot, lambda: getattr(app.focused, "message_id", None) == stored[90].id)
        assert search_count(app).startswith("2 of 3")
        await pilot.press("n")  # the oldest is among the earlier messages: they are mounted to show it
        await settle(pilot, lambda: getattr(app.focused, "message_id", None) == stored[5].id)
        assert search_count(app).startswith("1 of 3")
        await pilot.press("N")
        await settle(pilot, lambda: getattr(app.focused, "message_id", None) == stored[90].id)
        marked = [widget.message_id for widget in view.children if widget.has_class("-search-hit")]
        assert marked == [stored[5].id, stored[90].id, stored[95].id]

        await pilot.press("escape")  # the search ends: no marks, back to the input
        await settle(pilot, lambda: app.focused is app.screen.query_one(ChatInput))
        assert not [widget for widget in view.children if widget.has_class("-search-hit")]
        assert not app.screen.query_one(SearchBar).has_class("-open")


async def test_a_search_that_finds_nothing_says_so_and_keeps_the_words(workspace: WorkspacePaths,
                                                                       llm_env: ScriptedLLM) -> None:
    seed(workspace, [Message(role="user", content="hello")])
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await pilot.press("ctrl+f", "z", "z", "enter")
        await settle(pilot, lambda: search_count(app) == "not found")
        field = app.screen.query_one("#search-query")
        assert app.focused is field and field.value == "zz"
        await pilot.press("escape")
        await settle(pilot, lambda: app.focused is app.screen.query_one(ChatInput))
