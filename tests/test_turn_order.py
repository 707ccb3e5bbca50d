"""Turns answer what was asked: notices never come after the person's prompt, and turns in one conversation
run one at a time across processes, each answering its own prompt."""

from __future__ import annotations

import asyncio

from cli_helpers import oboto, oboto_process
from oboto.core.bus import EventBus
from oboto.core.events import MessageAppended, PromptSubmitted, TurnFinished
from oboto.core.stale_files import clean_stale_files
from oboto.services.conversations import ConversationManager
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedToolCall, async_wait_until, wait_until


def stored(workspace) -> list[dict]:
    """The conversation's messages as the store reads them back (a streamed reply's added text folded in)."""
    return [message.model_dump(mode="json") for message in ConversationManager(workspace, EventBus()).messages("chat")]


def last_user_text(request: dict) -> str:
    return next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")


async def test_a_notice_stored_as_the_prompt_is_stored_is_given_before_the_prompt(runtime: Runtime, llm_env) -> None:
    """A task ending at the very moment the person sends: its notice is context, the prompt is the question."""

    def notice_right_after_the_prompt(event: MessageAppended) -> None:
        if event.role == "user":
            runtime.conversations.post_notice("chat", "Background task t-1 completed: the build passed.",
                                              marker="task-notice", author="tasks")

    runtime.bus.subscribe(notice_right_after_the_prompt, MessageAppended)
    llm_env.add(Reply(text="It is 4."))
    assert (await runtime.chat("chat", "what is 2+2?")).ok
    sent = llm_env.requests[0]["messages"]
    assert sent[-1] == {"role": "user", "content": "what is 2+2?"}, "the prompt is the last thing the model reads"
    assert "the build passed" in sent[-2]["content"]


async def test_a_notice_arriving_during_a_turn_is_given_after_that_reply_in_the_next_turn(runtime: Runtime,
                                                                                          llm_env) -> None:
    (runtime.paths.root / "notes.txt").write_text("remember the milk\n")
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("read_file", {"path": "notes.txt"})], delay=0.5),
                Reply(text="The notes say: remember the milk."),
                Reply(text="Yes, the build passed."))
    turn = asyncio.create_task(runtime.chat("chat", "what do my notes say?"))
    await async_wait_until(lambda: len(llm_env.requests) == 1)
    runtime.conversations.post_notice("chat", "Background task t-2 completed: the build passed.",
                                      marker="task-notice", author="tasks")
    assert (await turn).ok
    assert all(last_user_text(request) == "what do my notes say?" for request in llm_env.requests[:2])
    tool_results = [m for m in llm_env.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_results and "remember the milk" in tool_results[0]["content"], "the result is not lost to the notice"
    assert (await runtime.chat("chat", "did the build pass?")).ok
    roles = [(m["role"], str(m["content"])[:30]) for m in llm_env.requests[2]["messages"][1:]]
    assert roles[-1] == ("user", "did the build pass?")
    notice_at = next(i for i, (_, text) in enumerate(roles) if "[oboto task-notice" in text)
    reply_at = next(i for i, (role, text) in enumerate(roles) if role == "assistant" and "remember" in text)
    assert reply_at < notice_at < len(roles) - 1, "after the reply it arrived during, before the new prompt"


def test_four_parallel_runs_in_one_conversation_each_answer_their_own_prompt(workspace, llm_env) -> None:
    llm_env.respond_with(lambda request: Reply(text=f"answer to <{last_user_text(request)}>", delay=0.3))
    runs = [oboto_process(workspace.root, "run", f"prompt {number}") for number in range(4)]
    results = [(run.communicate(timeout=240), run.returncode) for run in runs]  # four cold litellm imports at once
    for number, ((stdout, stderr), code) in enumerate(results):
        assert code == 0, stderr
        assert f"answer to <prompt {number}>" in stdout, (number, stdout)
    assert any("waiting for conversation chat (busy" in stderr for (_, stderr), _ in results)
    spoken = [(line["role"], line["content"]) for line in stored(workspace) if line["role"] in ("user", "assistant")]
    pairs = list(zip(spoken[0::2], spoken[1::2]))
    assert len(pairs) == 4
    for (role, prompt), (reply_role, answer) in pairs:
        assert role == "user" and reply_role == "assistant" and answer == f"answer to <{prompt}>"


def test_no_wait_says_the_conversation_is_busy_and_exits_1(workspace, llm_env) -> None:
    llm_env.respond_with(lambda request: Reply(text="slow answer", delay=30))
    first = oboto_process(workspace.root, "run", "a slow question")
    try:
        wait_until(lambda: len(llm_env.requests) == 1, timeout=60)
        busy = oboto(workspace.root, "run", "--no-wait", "another question")
        assert busy.returncode == 1
        assert "conversation chat is busy" in busy.stderr and str(first.pid) in busy.stderr
        waited = oboto(workspace.root, "run", "--wait", "0.5", "another question")
        assert waited.returncode == 1 and "after waiting 0.5 s" in waited.stderr
        assert "waiting for conversation chat (busy" in waited.stderr
        other = oboto(workspace.root, "conversations", "create", "side")
        assert other.returncode == 0
        llm_env.respond_with(lambda request: Reply(text="side answer"))
        side = oboto(workspace.root, "run", "--no-wait", "-c", "side", "elsewhere")
        assert side.returncode == 0 and "side answer" in side.stdout, "other conversations are not held up"
    finally:
        first.kill()
        first.wait()
    prompts = [line["content"] for line in stored(workspace) if line["role"] == "user"]
    assert prompts == ["a slow question"], "a turn that did not run stored nothing"


async def test_a_turn_in_the_same_process_waits_for_the_running_one(runtime: Runtime, llm_env) -> None:
    llm_env.respond_with(lambda request: Reply(text=f"answer to <{last_user_text(request)}>", delay=0.2))
    first = asyncio.create_task(runtime.chat("chat", "first"))
    await async_wait_until(lambda: len(llm_env.requests) == 1)
    second = await runtime.chat("chat", "second")
    assert (await first).final_text == "answer to <first>" and second.final_text == "answer to <second>"
    assert runtime.turn_locks.busy("chat") is False


async def test_compact_and_clear_are_refused_while_a_turn_runs(runtime: Runtime, llm_env) -> None:
    llm_env.respond_with(lambda request: Reply(text="slow", delay=0.5))
    turn = asyncio.create_task(runtime.chat("chat", "first"))
    await async_wait_until(lambda: len(llm_env.requests) == 1)
    for command in ("/compact", "/clear"):
        outcome = await runtime.slash_commands.run("chat", command)
        assert not outcome.ok and "conversation chat is busy" in outcome.text
    await turn
    assert not any(m.marker == "context-cleared" for m in runtime.conversations.messages("chat"))


async def test_the_prompt_is_announced_at_once_and_stored_under_the_announced_id(runtime: Runtime, llm_env) -> None:
    """A view can show the person's message before the turn has checked the model and fitted the context."""
    seen: list = []
    runtime.bus.subscribe(lambda event: seen.append((event, len(llm_env.requests))), PromptSubmitted,
                          MessageAppended, TurnFinished)
    llm_env.add(Reply(text="hello back"))
    assert (await runtime.chat("chat", "hello")).ok
    (announced, requests_then), *_ = seen
    assert isinstance(announced, PromptSubmitted) and announced.text == "hello" and requests_then == 0
    stored = next(message for message in runtime.conversations.messages("chat") if message.role == "user")
    assert stored.id == announced.message_id
    refused = await runtime.chat("chat", "x " * 225_000)
    assert refused.status == "refused"
    announced_again = [event for event, _ in seen if isinstance(event, PromptSubmitted)][-1]
    finished = [event for event, _ in seen if isinstance(event, TurnFinished)][-1]
    assert finished.status == "refused" and all(m.id != announced_again.message_id
                                                for m in runtime.conversations.messages("chat"))


async def test_a_turn_lock_stays_while_its_conversation_exists(runtime: Runtime, llm_env) -> None:
    """The runner's start-up cleanup keeps a live conversation's turn lock and removes a deleted one's."""
    llm_env.respond_with(lambda request: Reply(text="ok"))
    runtime.conversations.create("side")
    assert (await runtime.chat("chat", "hi")).ok and (await runtime.chat("side", "hi")).ok
    runtime.conversations.delete("side")
    cleaned = clean_stale_files(runtime.paths.state_dir)
    assert "conversations/side.turn.lock" in cleaned.lock_files
    assert "conversations/chat.turn.lock" not in cleaned.lock_files
    assert runtime.paths.conversation_turn_lock("chat").exists()
