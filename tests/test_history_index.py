"""A conversation's offset index (`<name>.idx`): tail and turn reads take only what they need; the index is
rebuilt when missing, stale or damaged and never loses a message; streamed replies are stored as deltas."""

from __future__ import annotations

import os

import orjson
import pytest

from oboto.core.bus import EventBus
from oboto.core.events import FileQuarantined
from oboto.core.paths import WorkspacePaths
from oboto.services.conversation_models import CLEARED_MARKER, COMPACTION_MARKER, Message
from oboto.services.conversations import ConversationManager

HISTORY = 400


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


def write_history(workspace: WorkspacePaths, count: int, name: str = "chat") -> list[Message]:
    """A long history written straight into the JSONL (as an older oboto, or another process, left it)."""
    messages = [Message(role="user" if index % 2 == 0 else "assistant", content=f"message {index}")
                for index in range(count)]
    path = workspace.conversation_file(name)
    with path.open("ab") as handle:
        for message in messages:
            handle.write(orjson.dumps(message.model_dump(mode="json", exclude_none=True)) + b"\n")
    return messages


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the messages parsed from a history file."""
    seen: list[str] = []
    original = Message.model_validate

    def counting(cls, data, **kwargs):
        message = original(data, **kwargs)
        seen.append(message.id)
        return message

    monkeypatch.setattr(Message, "model_validate", classmethod(counting))
    return seen


def test_tail_in_a_new_process_parses_only_the_last_messages(workspace, bus, parsed) -> None:
    written = write_history(workspace, HISTORY)
    ConversationManager(workspace, bus).message_count("chat")  # the index is built once
    parsed.clear()
    tail = ConversationManager(workspace, bus).tail("chat", 5)
    assert [message.content for message in tail] == [message.content for message in written[-5:]]
    assert len(parsed) <= 5, "only the last five messages were read"


def test_message_count_comes_from_the_index_without_reading_the_history(workspace, bus, parsed) -> None:
    write_history(workspace, HISTORY)
    manager = ConversationManager(workspace, bus)
    manager.message_count("chat")
    parsed.clear()
    manager.append("chat", Message(role="user", content="one more"))
    summary = next(item for item in manager.list() if item.name == "chat")
    assert summary.message_count == HISTORY + 1 and parsed == []


def test_a_missing_index_is_rebuilt_and_loses_nothing(workspace, bus) -> None:
    written = write_history(workspace, 50)
    manager = ConversationManager(workspace, bus)
    assert manager.message_count("chat") == 50
    index = workspace.conversation_file("chat").with_suffix(".idx")
    index.unlink()
    assert [message.id for message in manager.tail("chat", 50)] == [message.id for message in written]
    assert index.exists() and manager.message_count("chat") == 50


def test_a_damaged_index_is_moved_aside_reported_and_rebuilt(workspace, bus) -> None:
    written = write_history(workspace, 30)
    manager = ConversationManager(workspace, bus)
    manager.message_count("chat")
    index = workspace.conversation_file("chat").with_suffix(".idx")
    index.write_bytes(b"not an index at all")
    reported: list[FileQuarantined] = []
    bus.subscribe(reported.append, FileQuarantined)
    assert [message.id for message in manager.tail("chat", 3)] == [message.id for message in written[-3:]]
    assert [event.path for event in reported] == [str(index)]
    assert list(index.parent.glob("chat.idx.corrupt-*")) and manager.message_count("chat") == 30


def test_an_index_behind_its_history_is_caught_up(workspace, bus) -> None:
    write_history(workspace, 20)
    manager = ConversationManager(workspace, bus)
    manager.message_count("chat")
    later = write_history(workspace, 4)  # appended without the index (a crash between the two writes)
    assert [message.id for message in manager.tail("chat", 4)] == [message.id for message in later]
    assert manager.message_count("chat") == 24


def test_an_index_of_a_replaced_history_is_rebuilt(workspace, bus) -> None:
    write_history(workspace, 20)
    manager = ConversationManager(workspace, bus)
    manager.message_count("chat")
    path = workspace.conversation_file("chat")
    os.replace(path, path.with_name("old.jsonl"))
    fresh = write_history(workspace, 3)
    assert [message.id for message in manager.tail("chat", 10)] == [message.id for message in fresh]


def test_a_turn_reads_only_from_what_the_newest_summary_covers(workspace, bus, parsed) -> None:
    written = write_history(workspace, HISTORY)
    manager = ConversationManager(workspace, bus)
    through = written[-11]
    summary = manager.append("chat", Message(role="system", content="summary", marker=COMPACTION_MARKER,
                                             compacted_through=through.id))
    newest = manager.append("chat", Message(role="user", content="and now?"))
    parsed.clear()
    fresh = ConversationManager(workspace, bus)
    turn = fresh.turn_messages("chat")
    assert turn[0].id == through.id and turn[-1].id == newest.id and summary.id in {m.id for m in turn}
    assert len(parsed) <= 14, "the messages the summary stands for were not read"
    assert [m.id for m in turn] == [m.id for m in fresh.messages("chat")][-len(turn):]


def test_a_turn_finds_its_start_far_back_across_the_scans_growing_blocks(workspace, bus) -> None:
    """A summary 600 messages back that covers from 900 back, and a clear before both: the look back from the end
    reads block after block (128, 256, 512, ...) and still starts where the summary says."""
    manager = ConversationManager(workspace, bus)
    write_history(workspace, 50)
    manager.append("chat", Message(role="system", content="cleared", marker=CLEARED_MARKER))
    written = write_history(workspace, 1200)
    through = written[-900]
    manager.append("chat", Message(role="system", content="summary", marker=COMPACTION_MARKER,
                                   compacted_through=through.id))
    write_history(workspace, 600)
    turn = ConversationManager(workspace, bus).turn_messages("chat")
    assert turn[0].id == through.id
    assert len(turn) == 900 + 1 + 600


def test_a_clear_far_back_starts_the_turn_after_it(workspace, bus) -> None:
    manager = ConversationManager(workspace, bus)
    write_history(workspace, 30)
    manager.append("chat", Message(role="system", content="cleared", marker=CLEARED_MARKER))
    after = write_history(workspace, 700)
    turn = ConversationManager(workspace, bus).turn_messages("chat")
    assert [message.id for message in turn] == [message.id for message in after]


def test_a_streamed_reply_is_stored_as_deltas_within_a_fifth_more_than_its_text(manager_and_path) -> None:
    manager, path = manager_and_path
    before = path.stat().st_size
    stream = manager.start_stream("chat")
    chunk = "All work and no play makes a dull agent. " * 20
    for _ in range(10):
        stream.feed(chunk)
        stream.flush()
    final = stream.finish(model="scripted")
    stored = path.stat().st_size - before
    assert final.content == chunk * 10 and manager.messages("chat")[-1].content == chunk * 10
    assert stored <= 1.2 * len(final.content.encode())


def test_what_a_stream_had_shown_survives_a_crash(manager_and_path, workspace, bus) -> None:
    manager, _path = manager_and_path
    stream = manager.start_stream("chat")
    for part in ("First part. ", "Second part. ", "Third part."):
        stream.feed(part)
        stream.flush()
    stream.feed(" never flushed")
    after_crash = ConversationManager(workspace, bus).tail("chat", 1)[0]  # the writer is gone: a new manager
    assert after_crash.id == stream.id and after_crash.content == "First part. Second part. Third part."
    assert after_crash.status == "interrupted"


def test_a_restarted_stream_keeps_only_the_new_text(manager_and_path) -> None:
    manager, _path = manager_and_path
    stream = manager.start_stream("chat")
    stream.feed("a false start")
    stream.flush()
    stream.restart()
    stream.feed("the real answer")
    stream.finish()
    assert manager.messages("chat")[-1].content == "the real answer"


@pytest.fixture
def manager_and_path(workspace, bus) -> tuple[ConversationManager, os.PathLike]:
    return ConversationManager(workspace, bus), workspace.conversation_file("chat")
