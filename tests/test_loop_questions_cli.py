"""`oboto loop …` and `oboto questions …`, in-process and from other processes while a runner runs."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from oboto.cli import main
from oboto.core.paths import WorkspacePaths
from oboto.core.store import save_document
from oboto.services.question_models import Question, QuestionBook
from oboto.services.runner import Runner
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall, async_wait_until


def cli(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    """Run `oboto --workspace root ARGS` in this process: exit code, stdout, stderr."""
    try:
        code = main(["--workspace", str(root), *args])
    except SystemExit as exit_:  # argparse reports usage errors by exiting
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


async def oboto_subprocess(root: Path, *args: str) -> tuple[int, str, str]:
    """Run the real `python -m oboto` in another process without blocking this event loop."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "oboto", "--workspace", str(root), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def running_runner(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> AsyncIterator[Runtime]:
    """A Runtime serving as the workspace's runner (with its watchfiles reload), as the TUI or daemon would."""
    runtime = Runtime.open(workspace.root)
    runner = Runner(runtime)
    serving = asyncio.create_task(runner.run())
    assert await runner.wait_until_active(10)
    yield runtime
    runner.stop()
    await serving


def test_loop_commands_change_and_show_the_persisted_state(capsys: pytest.CaptureFixture[str],
                                                           workspace: WorkspacePaths) -> None:
    root = workspace.root
    code, out, err = cli(capsys, root, "loop", "play", "--interval", "30", "--json")
    played = orjson.loads(out)
    assert code == 0 and played["state"] == "playing" and played["interval_seconds"] == 30
    assert played["runner_pid"] is None and "no oboto runner is active" in err
    assert cli(capsys, root, "loop", "pause", "--reason", "lunch")[0] == 0
    code, out, _ = cli(capsys, root, "loop", "status", "--json")
    status = orjson.loads(out)
    assert (status["state"], status["paused_reason"], status["interval_seconds"]) == ("paused", "lunch", 30)
    assert cli(capsys, root, "loop", "resume")[1].startswith("agent loop: playing\n")
    assert cli(capsys, root, "loop", "interval", "60")[0] == 0
    assert cli(capsys, root, "loop", "stop")[0] == 0
    code, out, _ = cli(capsys, root, "loop", "status")
    assert code == 0 and out.splitlines()[:3] == ["agent loop: stopped", "interval: 60s", "invocations: 0"]


@pytest.mark.parametrize(("value", "reason"), [
    ("0", "'0' must be a positive number of seconds"),
    ("-5", "'-5' must be a positive number of seconds"),
    ("nan", "'nan' must be a positive number of seconds"),
    ("inf", "'inf' must be a positive number of seconds"),
    ("soon", "'soon' is not a number of seconds"),
    ("5", "the interval must be at least 10 seconds, not 5"),
    ("1e9", "the interval must be at most 2.592e+06 seconds (30 days), not 1e+09"),
])
@pytest.mark.parametrize("command", [("loop", "play", "--interval"), ("loop", "interval")])
def test_bad_intervals_exit_2_with_a_one_line_reason(capsys: pytest.CaptureFixture[str], workspace: WorkspacePaths,
                                                     command: tuple[str, ...], value: str, reason: str) -> None:
    code, out, err = cli(capsys, workspace.root, *command, value)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and reason in err
    assert not workspace.agent_loop.exists()  # nothing was changed


def test_pausing_or_resuming_a_stopped_loop_exits_2(capsys: pytest.CaptureFixture[str],
                                                   workspace: WorkspacePaths) -> None:
    for action in ("pause", "resume"):
        code, _, err = cli(capsys, workspace.root, "loop", action)
        assert code == 2 and "the agent loop is stopped" in err


def test_questions_list_and_answer(capsys: pytest.CaptureFixture[str], workspace: WorkspacePaths) -> None:
    question = Question(id="q-0badcafe", question="Which port?", origin="agent-loop", asked_by_task="t-0000dead")
    save_document(workspace.questions, QuestionBook(questions=[question]))
    code, out, _ = cli(capsys, workspace.root, "questions", "list")
    assert code == 0 and out.startswith("q-0badcafe [open]") and "Which port?" in out
    code, out, _ = cli(capsys, workspace.root, "questions", "answer", "q-0badcafe", "use", "8080")
    assert code == 0 and out == "answered q-0badcafe\n"
    assert cli(capsys, workspace.root, "questions", "list")[1] == "no open questions\n"
    code, out, _ = cli(capsys, workspace.root, "questions", "list", "--all", "--json")
    [listed] = orjson.loads(out)
    assert (listed["id"], listed["status"], listed["answer"]) == ("q-0badcafe", "answered", "use 8080")


@pytest.mark.parametrize(("question_id", "reason"), [
    ("q-12345678", "no question with id q-12345678"),
    ("nonsense", "'nonsense' is not a question id"),
    ("q-0badcafe", "question q-0badcafe was already answered"),
])
def test_bad_question_ids_exit_2_with_a_reason(capsys: pytest.CaptureFixture[str], workspace: WorkspacePaths,
                                               question_id: str, reason: str) -> None:
    answered = Question(id="q-0badcafe", question="Which port?", status="answered", answer="8080")
    save_document(workspace.questions, QuestionBook(questions=[answered]))
    code, out, err = cli(capsys, workspace.root, "questions", "answer", question_id, "blue")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and reason in err


async def test_play_from_another_process_ticks_in_the_runner(running_runner: Runtime, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="looked around"))
    code, out, err = await oboto_subprocess(running_runner.paths.root, "loop", "play", "--interval", "600")
    assert code == 0 and "agent loop: playing" in out and "no oboto runner" not in err
    await async_wait_until(lambda: running_runner.agent_loop.status().invocation_count == 1, timeout=5)
    [record] = [r for r in running_runner.tasks.list() if r.origin == "agent-loop"]
    assert record.query.startswith("# Agent loop briefing — invocation 1\n")


async def test_a_blocking_question_answered_from_the_cli_resumes_the_loop_and_reaches_the_agent(
        running_runner: Runtime, llm_env: ScriptedLLM) -> None:
    runtime = running_runner

    def after_the_question(request: dict[str, Any]) -> Reply | None:
        results = [message for message in request["messages"] if message["role"] == "tool"]
        return Reply(text=f"Painting it {results[-1]['content']}.") if results else None

    llm_env.add(Reply(tool_calls=[ScriptedToolCall("ask_blocking_question", {"question": "Which colour?"})]))
    llm_env.respond_with(after_the_question)
    runtime.agent_loop.play(interval=600)

    [question] = await async_wait_until(runtime.questions.open_questions, timeout=5)
    paused = runtime.agent_loop.status()
    assert paused.state == "paused" and paused.paused_for_question == question.id
    on_disk = orjson.loads(runtime.paths.questions.read_bytes())
    assert [(q["id"], q["status"], q["question"]) for q in on_disk["questions"]] == [(question.id, "open",
                                                                                      "Which colour?")]
    shown = [m.content for m in runtime.conversations.messages("chat") if m.marker == "question"]
    assert len(shown) == 1 and question.id in shown[0] and "Which colour?" in shown[0]

    code, out, err = await oboto_subprocess(runtime.paths.root, "questions", "answer", question.id, "blue")
    assert (code, out, err) == (0, f"answered {question.id}\n", "")

    def answer_delivered() -> bool:
        return any(message["role"] == "tool" and message["content"] == "blue"
                   for request in llm_env.requests for message in request["messages"])

    await async_wait_until(answer_delivered, timeout=5)
    task = await runtime.tasks.wait(question.asked_by_task, 10)
    assert task.status == "completed" and task.result == "Painting it blue."
    chat = runtime.conversations.messages("chat")
    assert [m.content for m in chat if m.marker == "answer"] == [f"Answer to {question.id} (Which colour?):\n\nblue"]
    await async_wait_until(lambda: any(m.marker == "background-agent" and m.content == "Painting it blue."
                                       for m in runtime.conversations.messages("chat")))
    resumed = runtime.agent_loop.status()
    assert resumed.state == "playing" and resumed.paused_for_question is None
    assert runtime.questions.get(question.id).status == "answered"
