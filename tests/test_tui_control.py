"""Control in the terminal UI: the approval prompt (allow once, always, deny with a reason, the diff), the mode
switch, a background approval answered with F2, and the emergency stop."""

from __future__ import annotations

import orjson
import pytest

from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall
from oboto.tui.widgets.approval_prompt import ApprovalPrompt
from oboto.tui.widgets.chat_input import ChatInput
from oboto.tui.widgets.status_line import StatusLine
from tui_helpers import running_app, settle


def tool_results(request: dict) -> list[str]:
    return [message["content"] for message in request["messages"] if message["role"] == "tool"]


async def send(pilot, text: str) -> None:
    pilot.app.screen.query_one(ChatInput).focus()
    await pilot.press(*text)
    await pilot.press("enter")


def prompts(app) -> list[ApprovalPrompt]:
    return list(app.screen.query(ApprovalPrompt))


async def test_allow_once_runs_the_command(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "echo hi > hi.txt"})]),
                Reply(text="done"))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await send(pilot, "make hi")
        await settle(pilot, lambda: prompts(app), timeout=60)
        prompt = prompts(app)[0]
        assert prompt.has_focus and "echo hi > hi.txt" in str(prompt.query_one(".approval-summary").render())
        await pilot.press("y")
        await settle(pilot, lambda: not prompts(app) and (workspace.root / "hi.txt").exists(), timeout=30)
    entry = orjson.loads(workspace.audit.read_bytes().splitlines()[-1])
    assert entry["decision"] == "ask→allowed" and entry["conversation"] == "chat"


async def test_always_adds_a_rule_for_the_conversation(workspace, llm_env: ScriptedLLM) -> None:
    call = Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "echo again"})])
    llm_env.add(call, Reply(text="one"), call, Reply(text="two"))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await send(pilot, "first")
        await settle(pilot, lambda: prompts(app), timeout=60)
        await pilot.press("a")
        await settle(pilot, lambda: len(llm_env.requests) >= 2 and not app.screen.replying, timeout=30)
        await send(pilot, "second")
        await settle(pilot, lambda: len(llm_env.requests) >= 4 and not app.screen.replying, timeout=30)
        assert not prompts(app), "the same command in the same conversation is not asked again"
    assert app.runtime.grants.rules("conversation:chat") == ["run_command(echo again)"]
    assert "again" in tool_results(llm_env.requests[3])[-1]


async def test_deny_with_a_reason_goes_back_to_the_model(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "rm -rf build"})]),
                Reply(text="ok, I will not"))
    (workspace.root / "build").mkdir()
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await send(pilot, "clean")
        await settle(pilot, lambda: prompts(app), timeout=60)
        await pilot.press("d")
        await pilot.press(*"keep build")
        await pilot.press("enter")
        await settle(pilot, lambda: len(llm_env.requests) >= 2, timeout=30)
    assert (workspace.root / "build").is_dir()
    assert "denied by the person: keep build" in tool_results(llm_env.requests[1])[-1]


async def test_escape_denies_and_the_edit_prompt_shows_the_diff(workspace, llm_env: ScriptedLLM) -> None:
    (workspace.root / "app.py").write_text("x = 1\n")
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("edit_file", {"path": "app.py", "old_text": "x = 1",
                                                                 "new_text": "x = 2"})]), Reply(text="fine"))
    async with running_app(workspace, start_runner=False, permissions={"mode": "ask"}) as (app, pilot):
        await send(pilot, "bump")
        await settle(pilot, lambda: prompts(app), timeout=60)
        preview = prompts(app)[0].query_one(".approval-preview").query_one("Static")
        assert preview.region.height > 0, "the diff is on screen"
        shown = preview.content.code  # the Syntax renderable the prompt shows
        assert "-x = 1" in shown and "+x = 2" in shown
        await pilot.press("escape")
        await settle(pilot, lambda: len(llm_env.requests) >= 2, timeout=30)
    assert (workspace.root / "app.py").read_text() == "x = 1\n"
    assert "denied by the person" in tool_results(llm_env.requests[1])[-1]


async def test_ctrl_t_cycles_the_mode_and_the_status_line_shows_it(workspace, llm_env: ScriptedLLM) -> None:
    async with running_app(workspace, start_runner=False) as (app, pilot):
        status = app.screen.query_one(StatusLine)
        assert "mode auto-edit" in str(status.render())
        await pilot.press("ctrl+t")
        await settle(pilot, lambda: "mode full" in str(status.render()))
        assert app.runtime.permission_mode == "full"
        await pilot.press("ctrl+t")
        await settle(pilot, lambda: "mode read-only" in str(status.render()))


async def test_a_background_approval_is_answered_with_f2_and_y(workspace, llm_env: ScriptedLLM,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBOTO_SHELL__ALLOW_BACKGROUND", "true")
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "echo bg > bg.txt"})]),
                Reply(text="done"))
    async with running_app(workspace) as (app, pilot):
        record = app.runtime.tasks.spawn("bg", "make bg", origin="user")
        await settle(pilot, lambda: app.runtime.questions.open_questions(), timeout=60)
        await pilot.press("f2")
        await settle(pilot, lambda: type(app.screen).__name__ == "QuestionModal")
        await pilot.press("y")
        await settle(pilot, lambda: app.runtime.tasks.get(record.id).finished, timeout=30)
        assert app.runtime.tasks.get(record.id).status == "completed"
    assert (workspace.root / "bg.txt").read_text() == "bg\n"


async def test_ctrl_s_asks_then_stops_everything(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="slow", delay=60))
    async with running_app(workspace) as (app, pilot):
        record = app.runtime.tasks.spawn("slow", "slow job", origin="user")
        await settle(pilot, lambda: app.runtime.tasks.get(record.id).status == "running", timeout=60)
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
        await pilot.press("n")
        await settle(pilot, lambda: type(app.screen).__name__ == "MainScreen")
        assert app.runtime.tasks.get(record.id).status == "running"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
        await pilot.press("y")
        await settle(pilot, lambda: app.runtime.tasks.get(record.id).status == "cancelled", timeout=30)
        assert "emergency stop" in app.runtime.tasks.get(record.id).error
