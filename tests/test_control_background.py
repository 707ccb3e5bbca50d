"""Background agents cannot ask inline: an ask becomes an approval question; the task waits and goes on with the
person's decision, given from the command line (another process) or the broker."""

from __future__ import annotations

import asyncio

import pytest

from cli_helpers import oboto
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall, async_wait_until

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def background_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Background agents may run commands here (off by default), so their asks are what is tested."""
    monkeypatch.setenv("OBOTO_SHELL__ALLOW_BACKGROUND", "true")


def tool_results(request: dict) -> list[str]:
    return [message["content"] for message in request["messages"] if message["role"] == "tool"]


async def open_approval(runtime: Runtime):
    questions = await async_wait_until(lambda: runtime.questions.open_questions(), timeout=30)
    return questions[0]


async def answer_from_the_cli(runtime: Runtime, question_id: str, *words: str):
    return await asyncio.to_thread(oboto, runtime.paths.root, "questions", "answer", question_id, *words)


async def test_an_ask_becomes_an_approval_question_and_allow_lets_the_task_go_on(
        runner_runtime: Runtime, llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "echo approved > out.txt"})]),
                Reply(text="done"))
    record = runtime.tasks.spawn("make out.txt", "write out.txt", origin="user")
    question = await open_approval(runtime)
    assert question.kind == "approval" and question.asked_by_task == record.id
    assert question.approval.tool == "run_command" and question.approval.subject == "echo approved > out.txt"
    assert question.approval.why == "mode auto-edit" and question.approval.tier == "exec"
    assert runtime.tasks.get(record.id).status == "awaiting_answer"
    assert not (runtime.paths.root / "out.txt").exists()
    notice = runtime.conversations.messages("chat")[-1]
    assert notice.marker == "question" and "allow|always|deny" in notice.content
    result = await answer_from_the_cli(runtime, question.id, "allow")
    assert result.returncode == 0, result.stderr
    done = await runtime.tasks.wait(record.id, 30)
    assert done.status == "completed"
    assert (runtime.paths.root / "out.txt").read_text() == "approved\n"
    entry = [entry for entry in runtime.audit.entries(task_id=record.id)][-1]
    assert entry["decision"] == "ask→allowed" and entry["origin"] == "user"


async def test_deny_with_a_reason_reaches_the_background_model(runner_runtime: Runtime, llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "make deploy"})]),
                Reply(text="understood"))
    record = runtime.tasks.spawn("deploy", "deploy it", origin="user")
    question = await open_approval(runtime)
    result = await answer_from_the_cli(runtime, question.id, "deny", "not", "on", "a", "friday")
    assert result.returncode == 0, result.stderr
    assert (await runtime.tasks.wait(record.id, 30)).status == "completed"
    refusal = tool_results(llm_env.requests[-1])[-1]
    assert "denied by the person: not on a friday" in refusal


async def test_always_for_a_schedule_covers_its_later_runs(runner_runtime: Runtime, llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    call = Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "echo tick"})])
    llm_env.add(call, Reply(text="first"), call, Reply(text="second"))
    schedule = runtime.scheduler.create(name="ticker", query="tick", interval_seconds=3600)
    first = runtime.scheduler.trigger_now(schedule.id)
    question = await open_approval(runtime)
    runtime.questions.answer(question.id, "always")
    assert (await runtime.tasks.wait(first.task_id, 30)).status == "completed"
    assert runtime.grants.rules(f"schedule:{schedule.id}") == ["run_command(echo tick)"]
    second = runtime.scheduler.trigger_now(schedule.id)
    assert (await runtime.tasks.wait(second.task_id, 30)).status == "completed"
    assert len(runtime.questions.list()) == 1, "the second run was not asked again"
    assert "tick" in tool_results(llm_env.requests[-1])[-1]


async def test_an_edit_approval_carries_the_diff(runner_runtime: Runtime, llm_env: ScriptedLLM, workspace) -> None:
    (workspace.root / "app.py").write_text("x = 1\n")
    workspace.config.write_text('[permissions]\nmode = "ask"\n')
    runtime = Runtime.open(workspace.root)
    runtime.activate_runner()
    try:
        llm_env.add(Reply(tool_calls=[ScriptedToolCall("edit_file", {"path": "app.py", "old_text": "x = 1",
                                                                     "new_text": "x = 2"})]), Reply(text="ok"))
        record = runtime.tasks.spawn("bump", "bump x", origin="user")
        question = await open_approval(runtime)
        assert "-x = 1" in question.approval.preview and "+x = 2" in question.approval.preview
        bad = await answer_from_the_cli(runtime, question.id, "maybe")
        assert bad.returncode == 2 and "allow, always or deny" in bad.stderr
        runtime.questions.answer(question.id, "y")
        assert (await runtime.tasks.wait(record.id, 30)).status == "completed"
        assert (workspace.root / "app.py").read_text() == "x = 2\n"
    finally:
        await runtime.deactivate_runner("the test finished")


async def test_background_ask_deny_refuses_without_a_question(workspace, llm_env: ScriptedLLM) -> None:
    workspace.config.write_text('[permissions]\nbackground_ask = "deny"\n')
    runtime = Runtime.open(workspace.root)
    runtime.activate_runner()
    try:
        llm_env.add(Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "echo hi"})]), Reply(text="ok"))
        record = runtime.tasks.spawn("try", "try it", origin="user")
        assert (await runtime.tasks.wait(record.id, 30)).status == "completed"
        assert runtime.questions.list() == []
        refusal = tool_results(llm_env.requests[-1])[-1]
        assert "background_ask" in refusal and "not run" in refusal
    finally:
        await runtime.deactivate_runner("the test finished")


async def test_the_task_time_limit_is_suspended_while_it_waits_for_a_decision(workspace, llm_env: ScriptedLLM) -> None:
    runtime = Runtime.open(workspace.root)
    runtime.activate_runner()
    try:
        llm_env.add(Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "echo late"})]), Reply(text="ok"))
        record = runtime.tasks.spawn("slow decision", "go", origin="user", timeout_seconds=2)
        question = await open_approval(runtime)
        await asyncio.sleep(3)  # longer than the task's own limit: waiting for the person is not work
        assert runtime.tasks.get(record.id).status == "awaiting_answer"
        runtime.questions.answer(question.id, "allow")
        assert (await runtime.tasks.wait(record.id, 30)).status == "completed"
    finally:
        await runtime.deactivate_runner("the test finished")
