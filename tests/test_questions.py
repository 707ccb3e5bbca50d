"""QuestionBroker and ask_blocking_question: asking, answering, pausing the loop, and what may not happen."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from oboto.agent.briefing import build_briefing
from oboto.core.bus import EventBus
from oboto.core.events import TaskStatusChanged
from oboto.core.paths import WorkspacePaths
from oboto.core.store import save_document
from oboto.services.agent_loop import AgentLoopController
from oboto.services.conversations import ConversationManager
from oboto.services.loop_briefing import LoopBriefing
from oboto.services.memory import MemoryStore
from oboto.services.question_models import Question, QuestionBook
from oboto.services.questions import QuestionBroker, QuestionError
from oboto.services.runtime import Runtime
from oboto.services.scheduler import SchedulerService
from oboto.services.tasks import TaskManager
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall, async_wait_until


def ask(question: str) -> Reply:
    return Reply(tool_calls=[ScriptedToolCall("ask_blocking_question", {"question": question})])


def echo_answer(request: dict[str, Any]) -> Reply | None:
    """The scripted agent repeats the tool result it was given: the person's answer."""
    results = [message for message in request["messages"] if message["role"] == "tool"]
    return Reply(text=f"Got: {results[-1]['content']}") if results else None


def notices(runtime: Runtime, marker: str) -> list[str]:
    return [message.content for message in runtime.conversations.messages("chat") if message.marker == marker]


def seed_open_question(paths: WorkspacePaths, question_id: str = "q-0badcafe") -> Question:
    """An open question as a runner that died would have left it."""
    question = Question(id=question_id, question="Which port should the dev server use?", origin="agent-loop",
                        asked_by_task="t-0000dead")
    save_document(paths.questions, QuestionBook(questions=[question]))
    return question


async def test_a_task_question_moves_it_to_awaiting_answer_and_back_to_running(runner_runtime: Runtime,
                                                                                llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    statuses: list[str] = []
    runtime.bus.subscribe(lambda event: statuses.append(event.status), TaskStatusChanged)
    llm_env.add(ask("Which colour?"))
    llm_env.respond_with(echo_answer)
    record = runtime.tasks.spawn("pick a colour", "Find out which colour the person wants.")
    [question] = await async_wait_until(runtime.questions.open_questions)
    assert (question.asked_by_task, question.origin, question.question) == (record.id, "user", "Which colour?")
    waiting = runtime.tasks.get(record.id)
    assert waiting.status == "awaiting_answer" and waiting.question_id == question.id
    [shown] = notices(runtime, "question")
    assert question.id in shown and f"oboto questions answer {question.id}" in shown and "Which colour?" in shown
    assert runtime.agent_loop.status().state == "stopped"  # a task's question does not touch the loop
    runtime.questions.answer(question.id, "green")
    done = await async_wait_until(lambda: (r := runtime.tasks.get(record.id)).finished and r)
    assert done.status == "completed" and done.result == "Got: green" and done.question_id is None
    assert statuses == ["awaiting_answer", "running"]
    assert notices(runtime, "answer") == [f"Answer to {question.id} (Which colour?):\n\ngreen"]
    assert runtime.questions.get(question.id).status == "answered"


async def test_a_loop_question_pauses_the_loop_until_every_question_is_answered(runner_runtime: Runtime,
                                                                               llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    llm_env.add(ask("Which database?"))
    llm_env.respond_with(echo_answer)
    runtime.agent_loop.play(interval=600)
    [loop_question] = await async_wait_until(runtime.questions.open_questions)
    state = runtime.agent_loop.status()
    assert state.state == "paused" and state.paused_for_question == loop_question.id
    assert state.paused_reason == f"waiting for an answer to question {loop_question.id}"
    llm_env.add(ask("Which branch?"))
    runtime.tasks.spawn("branch", "Find out which branch to use.")
    await async_wait_until(lambda: len(runtime.questions.open_questions()) == 2)
    other = [q for q in runtime.questions.open_questions() if q.id != loop_question.id][0]
    runtime.questions.answer(loop_question.id, "postgres")
    assert runtime.agent_loop.status().state == "paused"  # another question is still open
    runtime.questions.answer(other.id, "main")
    resumed = runtime.agent_loop.status()
    assert resumed.state == "playing" and resumed.paused_for_question is None and resumed.paused_reason is None
    loop_task = runtime.tasks.get(loop_question.asked_by_task)
    assert loop_task.origin == "agent-loop"
    assert (await runtime.tasks.wait(loop_task.id, 10)).result == "Got: postgres"


async def test_a_manual_pause_outlasts_the_answer(runner_runtime: Runtime, llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    llm_env.add(ask("Ship it?"))
    llm_env.respond_with(echo_answer)
    runtime.agent_loop.play(interval=600)
    [question] = await async_wait_until(runtime.questions.open_questions)
    runtime.agent_loop.pause("I am reviewing")
    runtime.questions.answer(question.id, "yes")
    state = runtime.agent_loop.status()
    assert (state.state, state.paused_reason, state.paused_for_question) == ("paused", "I am reviewing", None)


def test_answering_twice_unknown_ids_and_empty_answers_are_refused(runtime: Runtime) -> None:
    question = seed_open_question(runtime.paths)
    with pytest.raises(QuestionError, match="no question with id q-12345678"):
        runtime.questions.answer("q-12345678", "blue")
    with pytest.raises(QuestionError, match="is not a question id"):
        runtime.questions.answer("../etc/passwd", "blue")
    with pytest.raises(QuestionError, match="cannot be empty"):
        runtime.questions.answer(question.id, "   ")
    assert runtime.questions.answer(question.id, " 8080 ").answer == "8080"
    with pytest.raises(QuestionError, match=f"question {question.id} was already answered"):
        runtime.questions.answer(question.id, "9090")
    assert runtime.questions.get(question.id).answer == "8080"
    assert len(notices(runtime, "answer")) == 1


async def test_a_question_left_by_a_dead_runner_stays_answerable_and_reaches_the_briefing(
        workspace: WorkspacePaths, runner_runtime: Runtime) -> None:
    question = seed_open_question(workspace)
    assert [q.id for q in runner_runtime.questions.open_questions()] == [question.id]
    Runtime.open(workspace.root).questions.answer(question.id, "8080")  # e.g. from the CLI
    assert "8080" in notices(runner_runtime, "answer")[0]
    briefing = build_briefing(runner_runtime.agent_loop.briefing_inputs(1, question.asked_at))
    assert f"- {question.id}: Which port should the dev server use? → answered" in briefing
    section = briefing.split("## Answers to earlier blocking questions", 1)[1].split("## Directive")[0]
    assert section.strip().endswith(": 8080")


async def test_the_foreground_agent_cannot_ask_blocking_questions(runtime: Runtime) -> None:
    foreground = runtime.tool_context(conversation="chat")
    background = runtime.tool_context(conversation="chat", task_id="t-12345678", background=True, origin="user")
    result = await runtime.tools.execute("ask_blocking_question", {"question": "Which colour?"}, foreground)
    assert not result.ok and "the person is right here" in result.content
    offered = {schema["function"]["name"] for schema in runtime.tools.schemas(foreground)}
    assert "ask_blocking_question" not in offered
    assert "ask_blocking_question" in {s["function"]["name"] for s in runtime.tools.schemas(background)}
    assert runtime.questions.list() == [] and notices(runtime, "question") == []


async def test_waiting_for_an_answer_does_not_use_up_the_task_timeout(runner_runtime: Runtime,
                                                                      llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    llm_env.add(ask("Proceed?"))
    llm_env.respond_with(echo_answer)
    record = runtime.tasks.spawn("quick job", "Ask before proceeding.", timeout_seconds=0.5)
    [question] = await async_wait_until(runtime.questions.open_questions)
    await asyncio.sleep(1.0)  # the point of the test: the person takes longer than the task's whole time limit
    assert runtime.tasks.get(record.id).status == "awaiting_answer"
    runtime.questions.answer(question.id, "go ahead")
    done = await runtime.tasks.wait(record.id, 10)
    assert done.status == "completed" and done.result == "Got: go ahead"


async def test_cancelling_the_asking_task_withdraws_its_question(runner_runtime: Runtime,
                                                                 llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    llm_env.add(ask("Which colour?"))
    runtime.agent_loop.play(interval=600)
    [question] = await async_wait_until(runtime.questions.open_questions)
    runtime.tasks.cancel(question.asked_by_task)
    await async_wait_until(lambda: runtime.tasks.get(question.asked_by_task).status == "cancelled")
    # The question is withdrawn when the task's end is announced, once its record is durable (just after).
    await async_wait_until(lambda: runtime.questions.get(question.id).status == "cancelled")
    assert await async_wait_until(lambda: notices(runtime, "question-withdrawn")) == [
        f"Question {question.id} was withdrawn: the agent that asked it was stopped."]
    assert runtime.agent_loop.status().state == "playing"
    with pytest.raises(QuestionError, match="was withdrawn"):
        runtime.questions.answer(question.id, "red")


async def test_a_runner_that_stops_leaves_its_question_open(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    llm_env.add(ask("Which colour?"))
    runner = Runtime.open(workspace.root)
    runner.activate_runner()
    record = runner.tasks.spawn("pick a colour", "Ask the person.")
    [question] = await async_wait_until(runner.questions.open_questions)
    await runner.deactivate_runner("the daemon was stopped")
    assert runner.tasks.get(record.id).status == "interrupted"
    later = Runtime.open(workspace.root)
    assert [q.id for q in later.questions.open_questions()] == [question.id]
    assert later.questions.answer(question.id, "red").status == "answered"


async def test_services_built_in_another_order_pause_and_resume_the_loop_the_same_way(runtime: Runtime) -> None:
    """The broker knows neither the loop nor the tasks: built first, it still pauses and resumes them."""
    paths, settings, bus = runtime.paths, runtime.settings, EventBus()
    conversations = ConversationManager(paths, bus)
    questions = QuestionBroker(paths.questions, bus, conversations)
    tasks = TaskManager(paths, settings, bus, conversations, runtime.foreground, agents=runtime,
                        checkpoints=runtime.checkpoints)
    memory = MemoryStore(paths, settings, bus)
    scheduler = SchedulerService(paths, bus, tasks)
    briefing = LoopBriefing(paths.root, settings.agent, runtime.foreground, conversations, scheduler, tasks,
                            questions, memory, runtime.profiles)
    loop = AgentLoopController(paths.agent_loop, settings.loop, bus, tasks, briefing)
    loop.play(interval=600)
    record = tasks.spawn("loop run", "ask something", origin="agent-loop")
    asking = asyncio.create_task(questions.ask("Which port?", task_id=record.id, origin="agent-loop"))
    [question] = await async_wait_until(questions.open_questions)
    assert loop.status().paused_for_question == question.id
    assert (tasks.get(record.id).status, tasks.get(record.id).question_id) == ("awaiting_answer", question.id)
    questions.answer(question.id, "8080")
    assert loop.status().state == "playing"
    assert await asking == "8080"
    assert (tasks.get(record.id).status, tasks.get(record.id).question_id) == ("running", None)


async def test_an_answer_given_from_a_worker_thread_resumes_the_loop_and_reaches_the_agent(
        runner_runtime: Runtime, llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    llm_env.add(ask("Which colour?"))
    llm_env.respond_with(echo_answer)
    runtime.agent_loop.play(interval=600)
    [question] = await async_wait_until(runtime.questions.open_questions)
    await asyncio.to_thread(runtime.questions.answer, question.id, "teal")
    assert runtime.agent_loop.status().state == "playing"
    assert (await runtime.tasks.wait(question.asked_by_task, 10)).result == "Got: teal"
