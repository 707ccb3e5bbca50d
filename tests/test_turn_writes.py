"""The person's turn stores what it says off the event loop: no fsync on the loop's thread, every message in the
order it was produced, and each one durable before it is announced as stored."""

from __future__ import annotations

import asyncio
import os
import threading

import orjson
import pytest

from oboto.core import durable
from oboto.core.events import MessageAppended, ReplyFinished
from oboto.services import streaming_reply
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall, async_wait_until


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread id of every fsync made."""
    threads: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        threads.append(threading.get_ident())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return threads


@pytest.fixture
def every_delta_flushed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A streamed reply writes what it has after every delta (not once a second), so each is a write to place."""
    monkeypatch.setattr(streaming_reply, "STREAM_FLUSH_SECONDS", 0.0)


def stored_lines(runtime: Runtime) -> list[dict]:
    return [orjson.loads(line) for line in runtime.paths.conversation_file("chat").read_bytes().splitlines()]


async def test_a_foreground_turn_makes_no_fsync_on_the_event_loop_thread(
        runtime: Runtime, llm_env: ScriptedLLM, fsyncs: list[int], every_delta_flushed: None) -> None:
    (runtime.paths.root / "notes.txt").write_text("remember the milk\n")
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("read_file", {"path": "notes.txt"})]),
                Reply(text="The notes say: remember the milk. " * 4, chunk_size=10),
                Reply(fault="401"))
    loop_thread = threading.get_ident()
    fsyncs.clear()
    assert (await runtime.chat("chat", "what do my notes say?")).ok
    assert not (await runtime.chat("chat", "and now?")).ok, "a failed turn stores a notice saying why"
    assert loop_thread not in fsyncs, "every write of the turn was made durable off the event loop"
    assert fsyncs, "and it was made durable"
    messages = runtime.conversations.messages("chat")
    assert [(message.role, message.marker) for message in messages] == [
        ("user", None), ("assistant", None), ("tool", None), ("assistant", None), ("user", None),
        ("system", "turn-stopped")]
    assert "remember the milk" in messages[2].content and messages[3].content.startswith("The notes say")


async def test_a_cancelled_turn_keeps_its_partial_reply_and_notice_without_an_fsync_on_the_loop(
        runtime: Runtime, llm_env: ScriptedLLM, fsyncs: list[int], every_delta_flushed: None) -> None:
    llm_env.add(Reply(text="word " * 400, chunk_size=5, chunk_delay=0.01))
    loop_thread = threading.get_ident()
    turn = asyncio.create_task(runtime.chat("chat", "talk for a while"))

    def partial_stored() -> bool:
        """Some of the reply is on disk while it still streams (several deltas: its start, then appended text)."""
        lines = stored_lines(runtime)
        streaming = {line["id"] for line in lines if line.get("status") == "streaming"}
        stored = "".join(line.get("content", "") + line.get("more", "") for line in lines if line["id"] in streaming)
        return stored.startswith("word word")

    await async_wait_until(partial_stored, timeout=30)
    turn.cancel()
    with pytest.raises(asyncio.CancelledError):
        await turn
    assert loop_thread not in fsyncs
    messages = runtime.conversations.messages("chat")
    assert [message.role for message in messages] == ["user", "assistant", "system"]
    assert messages[1].status == "interrupted" and messages[1].content.startswith("word word")
    assert messages[2].marker == "turn-stopped"


async def test_the_turns_messages_are_stored_in_the_order_they_were_produced(
        runtime: Runtime, llm_env: ScriptedLLM, every_delta_flushed: None) -> None:
    """Many writes queued at once (every delta, two tool rounds) land in the file in the order they were made."""
    for name in ("a.txt", "b.txt"):
        (runtime.paths.root / name).write_text(f"contents of {name}\n")
    first, last = "one two three four five six seven eight " * 3, "nine ten eleven twelve " * 3
    llm_env.add(Reply(text=first, tool_calls=[ScriptedToolCall("read_file", {"path": "a.txt"}),
                                              ScriptedToolCall("read_file", {"path": "b.txt"})], chunk_size=4),
                Reply(text=last, chunk_size=3))
    assert (await runtime.chat("chat", "read both")).ok
    lines = stored_lines(runtime)
    firsts = [line for line in lines if "role" in line]
    assert [(line["role"], line.get("name")) for line in firsts] == [
        ("user", None), ("assistant", None), ("tool", "read_file"), ("tool", "read_file"), ("assistant", None)]
    assert "contents of a.txt" in firsts[2]["content"] and "contents of b.txt" in firsts[3]["content"]
    replies = [line["id"] for line in firsts if line["role"] == "assistant"]
    position = {id(line): index for index, line in enumerate(lines)}
    for reply_id, text in zip(replies, (first, last)):
        own = [line for line in lines if line["id"] == reply_id]
        assert (own[0].get("content", "") + "".join(line.get("more", "") for line in own[1:])) == text, \
            "the deltas were appended in the order they were streamed"
        assert own[-1]["status"] == "complete"
    first_reply_closed = max(position[id(line)] for line in lines if line["id"] == replies[0])
    assert first_reply_closed < position[id(firsts[2])], "a reply is closed before the results of its calls"


async def test_a_message_is_durable_before_it_is_announced(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    """Whoever hears MessageAppended or ReplyFinished finds the message in the file already."""
    seen: list[tuple[str, bool]] = []

    def check(event: MessageAppended | ReplyFinished) -> None:
        in_file = any(line["id"] == event.message_id for line in stored_lines(runtime))
        seen.append((type(event).__name__, in_file))

    runtime.bus.subscribe(check, MessageAppended)
    runtime.bus.subscribe(check, ReplyFinished)
    llm_env.add(Reply(text="stored first"))
    assert (await runtime.chat("chat", "hello")).ok
    assert [name for name, _ in seen] == ["MessageAppended", "MessageAppended", "ReplyFinished"]
    assert all(in_file for _, in_file in seen)


def test_a_turn_run_in_another_thread_still_stores_everything(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    """A caller with its own event loop in a worker thread (as the warm path's commands are) gets the same."""
    llm_env.add(Reply(text="from a thread"))
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(asyncio.run(runtime.chat("chat", "hi")).ok))
    thread.start()
    thread.join(timeout=60)
    assert outcome == [True]
    assert [message.content for message in runtime.conversations.messages("chat")] == ["hi", "from a thread"]
