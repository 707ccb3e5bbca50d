"""Slash commands in the TUI's input, run by the runtime's one registry: /help and other answers shown below the
conversation (never stored, never sent), an unknown one an error, Tab completion, a custom command sent as the
turn, /model on the status line, /compact's phase; and the status line while a turn waits for another."""

from __future__ import annotations

from oboto.core.locks import ProcessLock
from oboto.core.paths import WorkspacePaths
from oboto.services.conversation_models import COMPACTION_MARKER
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM
from oboto.tui.widgets.chat_input import ChatInput
from oboto.tui.widgets.conversation import ConversationView
from oboto.tui.widgets.message_widgets import CommandOutput, UserMessage
from oboto.tui.widgets.status_line import StatusLine
from tui_helpers import running_app, settle, toasts

REVIEW = """---
description: Review the work so far
argument-hint: "[focus]"
---
Review the changes, paying most attention to $ARGUMENTS."""
SUMMARY = "SUMMARY: three short questions were answered."


def add_command(workspace: WorkspacePaths, name: str, text: str) -> None:
    folder = workspace.root / ".oboto" / "commands"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(text)


async def type_in(pilot, text: str) -> None:
    pilot.app.screen.query_one(ChatInput).focus()
    await pilot.press(*("space" if char == " " else char for char in text))


async def send(pilot, text: str) -> None:
    await type_in(pilot, text)
    await pilot.press("enter")


def lines(app) -> list[str]:
    return app.screen.query_one(StatusLine).content.plain.splitlines()


def outputs(app) -> list[CommandOutput]:
    return list(app.screen.query_one(ConversationView).query(CommandOutput))


async def test_help_is_answered_below_the_conversation_and_never_stored(workspace: WorkspacePaths,
                                                                        llm_env: ScriptedLLM) -> None:
    add_command(workspace, "review", REVIEW)
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await send(pilot, "/help")
        await settle(pilot, lambda: bool(outputs(app)))
        shown = outputs(app)[0]
        assert shown.source.startswith("Commands (type them where a prompt goes):")
        assert "/compact" in shown.source and "/review [focus]" in shown.source and "Review the work so far" in shown.source
        assert str(shown.border_title) == "/help"
        assert app.screen.query_one(ChatInput).text == ""
        await settle(pilot, lambda: lines(app)[0].startswith("✓ /help done in"))
        assert app.runtime.conversations.messages("chat") == []
    assert llm_env.requests == [], "a command never reaches the model"


async def test_an_unknown_command_is_an_error_kept_in_the_input_and_never_sent(workspace: WorkspacePaths,
                                                                              llm_env: ScriptedLLM) -> None:
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await send(pilot, "/frobnicate the logs")
        await settle(pilot, lambda: any(text.startswith("Unknown command\n/frobnicate is not a command; /help")
                                        for text in toasts(app)))
        assert app.screen.query_one(ChatInput).text == "/frobnicate the logs"
        assert outputs(app) == [] and not app.screen.query_one(ConversationView).query(UserMessage)

        app.screen.query_one(ChatInput).text = "/model frobnicator-9000"
        await pilot.press("enter")
        await settle(pilot, lambda: any(text.startswith("/model\ncannot use frobnicator-9000") for text in toasts(app)))
        assert app.screen.query_one(ChatInput).text == "/model frobnicator-9000", "a refused command stays to fix"
        assert lines(app)[0].startswith("✗ /model stopped after")
        assert app.runtime.conversations.messages("chat") == [], "a refusal is not stored in the conversation"
        assert app.runtime.conversations.info("chat").model is None
    assert llm_env.requests == []


async def test_tab_completes_command_names_with_custom_ones_and_moves_focus_otherwise(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    add_command(workspace, "review", REVIEW)
    async with running_app(workspace, start_runner=False) as (app, pilot):
        chat_input = app.screen.query_one(ChatInput)
        await type_in(pilot, "/he")
        await pilot.press("tab")
        assert chat_input.text == "/help " and chat_input.has_focus
        chat_input.text = ""
        await type_in(pilot, "/mo")
        await pilot.press("tab")
        assert chat_input.text == "/mode", "as far as /model and /mode agree"
        await pilot.press("tab")
        await settle(pilot, lambda: "Commands\n/model  /mode" in toasts(app))
        assert chat_input.text == "/mode"
        chat_input.text = ""
        await type_in(pilot, "/rev")
        await pilot.press("tab")
        assert chat_input.text == "/review ", "custom commands complete too"
        chat_input.text = ""
        await type_in(pilot, "/zz")
        await pilot.press("tab")
        await settle(pilot, lambda: any("No command starts with /zz" in text for text in toasts(app)))
        chat_input.text = "plain words"
        await pilot.press("tab")
        await settle(pilot, lambda: not chat_input.has_focus)
        assert chat_input.text == "plain words"


async def test_a_custom_command_sends_its_prompt_as_the_turn_drawn_once(workspace: WorkspacePaths,
                                                                        llm_env: ScriptedLLM) -> None:
    add_command(workspace, "review", REVIEW)
    llm_env.add(Reply(text="Looks fine.", delay=0.3))
    expanded = "Review the changes, paying most attention to the tests."
    async with running_app(workspace, start_runner=False) as (app, pilot):
        view = app.screen.query_one(ConversationView)
        await send(pilot, "/review the tests")
        await settle(pilot, lambda: [widget.source for widget in view.query(UserMessage)] == [expanded])
        await settle(pilot, lambda: not app.screen.replying and lines(app)[0].startswith("✓ answered in"))
        stored = [message for message in app.runtime.conversations.messages("chat") if message.role == "user"]
        assert [message.content for message in stored] == [expanded]
        assert [widget.message_id for widget in view.query(UserMessage)] == [stored[0].id], "drawn once, by its id"
    assert llm_env.requests[0]["messages"][-1] == {"role": "user", "content": expanded}


async def test_model_switch_shows_on_the_status_line_with_the_conversation_s_cost(workspace: WorkspacePaths,
                                                                                  llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="one", prompt_tokens=1000, completion_tokens=234), Reply(text="two"))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        assert lines(app)[1].endswith("· chat · openai/scripted")
        await send(pilot, "first")
        await settle(pilot, lambda: "· chat: 1,234 tokens, $0 in all · openai/scripted" in lines(app)[1])
        await send(pilot, "/model openai/other-model")
        await settle(pilot, lambda: lines(app)[1].endswith("· openai/other-model"))
        assert outputs(app)[0].source.startswith("Switched to openai/other-model")
        await send(pilot, "second")
        await settle(pilot, lambda: not app.screen.replying and lines(app)[0].startswith("✓ answered in"))
        await send(pilot, "/model default")
        await settle(pilot, lambda: lines(app)[1].endswith("· openai/scripted"))
    assert llm_env.requests[-1]["model"] == "other-model"


async def test_compact_shows_its_phase_then_how_it_went(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    def answer(request: dict) -> Reply:
        if request["messages"][0]["content"].startswith("You summarise a conversation"):
            return Reply(text=SUMMARY, delay=1.0)
        return Reply(text="an answer")

    llm_env.respond_with(answer)
    earlier = Runtime.open(workspace.root)
    for number in range(3):
        assert (await earlier.chat("chat", f"question {number}")).ok
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await send(pilot, "/compact")
        await settle(pilot, lambda: "compacting context…" in lines(app)[0])
        assert " working " in lines(app)[0] and "Esc cancels" not in lines(app)[0]
        await settle(pilot, lambda: lines(app)[0].startswith("✓ /compact done in"), timeout=20)
        assert outputs(app) and "Compacted" in outputs(app)[0].source
        summaries = [message for message in app.runtime.conversations.messages("chat")
                     if message.marker == COMPACTION_MARKER]
        assert [message.content for message in summaries] == [SUMMARY]


async def test_a_turn_waiting_for_another_process_says_so(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="my turn now"))
    other_process = ProcessLock(workspace.conversation_turn_lock("chat"))
    assert other_process.try_acquire()
    try:
        async with running_app(workspace, start_runner=False) as (app, pilot):
            await send(pilot, "hello")
            await settle(pilot, lambda: "waiting for another turn…" in lines(app)[0])
            assert llm_env.requests == []
            other_process.release()
            await settle(pilot, lambda: not app.screen.replying and lines(app)[0].startswith("✓ answered in"),
                         timeout=20)
    finally:
        other_process.release()
    assert llm_env.requests[-1]["messages"][-1] == {"role": "user", "content": "hello"}
