"""ConversationManager: names, lifecycle, persistence, reports, corrupt files and interrupted streams."""

from __future__ import annotations

import orjson
import pytest

from oboto.core.bus import EventBus
from oboto.core.events import (
    ChildReported,
    Event,
    FileQuarantined,
    MessageAppended,
    ReplyFinished,
    ReplyRestarted,
    ReplyStarted,
    ReplyTextAppended,
)
from oboto.core.paths import WorkspacePaths
from oboto.services.conversation_models import ConversationNameError, Message
from oboto.services.conversations import ConversationError, ConversationManager


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def manager(workspace: WorkspacePaths, bus: EventBus) -> ConversationManager:
    return ConversationManager(workspace, bus)


def test_chat_always_exists(manager: ConversationManager) -> None:
    assert [summary.name for summary in manager.list()] == ["chat"]
    assert manager.active == "chat"


@pytest.mark.parametrize("bad", ["", "a" * 65, "has space", "../etc", "naïve", "dot.name", "slash/name", "UPPER CASE"])
def test_bad_names_are_refused(manager: ConversationManager, bad: str) -> None:
    with pytest.raises(ConversationNameError, match="invalid conversation name"):
        manager.create(bad)
    assert [summary.name for summary in manager.list()] == ["chat"]


def test_names_are_lower_cased_never_sanitised_into_another(manager: ConversationManager) -> None:
    assert manager.create("Research").name == "research"
    with pytest.raises(ConversationError, match="already exists"):
        manager.create("RESEARCH")
    with pytest.raises(ConversationError, match="already exists"):
        manager.create("Chat")


def test_create_rename_switch_delete(manager: ConversationManager, workspace: WorkspacePaths) -> None:
    manager.create("research")
    manager.append("research", Message(role="user", content="look into caching"))
    manager.switch("research")
    assert manager.active == "research"
    manager.rename("research", "caching")
    assert manager.active == "caching"
    assert [message.content for message in manager.messages("caching")] == ["look into caching"]
    assert not workspace.conversation_file("research").exists()
    listed = {summary.name: summary for summary in manager.list()}
    assert listed["caching"].message_count == 1 and listed["caching"].parent == "chat"
    manager.delete("caching")
    assert manager.active == "chat"
    assert not workspace.conversation_file("caching").exists()
    assert [summary.name for summary in manager.list()] == ["chat"]


def test_chat_cannot_be_renamed_or_deleted(manager: ConversationManager) -> None:
    with pytest.raises(ConversationError, match="cannot be renamed"):
        manager.rename("chat", "other")
    with pytest.raises(ConversationError, match="cannot be deleted"):
        manager.delete("chat")


def test_unknown_conversation_is_refused(manager: ConversationManager) -> None:
    with pytest.raises(ConversationError, match="no conversation named 'ghost'"):
        manager.switch("ghost")
    with pytest.raises(ConversationError):
        manager.rename("ghost", "spirit")


def test_rename_onto_existing_is_refused(manager: ConversationManager) -> None:
    manager.create("a")
    manager.create("b")
    with pytest.raises(ConversationError, match="already exists"):
        manager.rename("a", "b")


def test_messages_survive_a_new_manager(workspace: WorkspacePaths, bus: EventBus) -> None:
    first = ConversationManager(workspace, bus)
    first.append("chat", Message(role="user", content="hello"))
    first.append("chat", Message(role="assistant", content="hi there"))
    second = ConversationManager(workspace, bus)
    assert [(m.role, m.content) for m in second.messages("chat")] == [("user", "hello"), ("assistant", "hi there")]
    assert second.list()[0].message_count == 2


def test_report_to_parent_is_persisted_and_announced(manager: ConversationManager, bus: EventBus,
                                                     workspace: WorkspacePaths) -> None:
    reports: list[ChildReported] = []
    bus.subscribe(reports.append, ChildReported)
    manager.create("research")
    manager.report_to_parent("research", "Caching halves latency.", "completed", ["Redis is not needed", "TTL 60s"])
    lines = workspace.conversation_file("chat").read_bytes().splitlines()
    stored = orjson.loads(lines[-1])
    assert stored["marker"] == "report" and stored["author"] == "research"
    assert "Report from research (completed)" in stored["content"] and "- TTL 60s" in stored["content"]
    assert reports[0].child == "research" and reports[0].parent == "chat"


def test_chat_cannot_report_to_parent(manager: ConversationManager) -> None:
    with pytest.raises(ConversationError, match="no parent"):
        manager.report_to_parent("chat", "x", "completed", [])


def test_streamed_reply_is_one_message_and_snapshots_collapse(manager: ConversationManager) -> None:
    stream = manager.start_stream("chat")
    stream.feed("Hello")
    stream.flush()
    stream.feed(", world")
    stream.flush()
    stream.finish()
    messages = manager.messages("chat")
    assert [(m.content, m.status) for m in messages] == [("Hello, world", "complete")]
    assert manager.list()[0].message_count == 1


def test_a_stream_publishes_each_step_under_the_id_it_is_stored_as(manager: ConversationManager,
                                                                    bus: EventBus) -> None:
    events: list[Event] = []
    bus.subscribe(events.append)
    stream = manager.start_stream("chat", author="helper")
    stream.feed("Hel")
    stream.restart()
    stream.feed("Hello")
    stream.finish()
    steps = [(type(event).__name__, getattr(event, "delta", getattr(event, "status", None))) for event in events]
    assert steps == [("ReplyStarted", None), ("ReplyTextAppended", "Hel"), ("ReplyRestarted", None),
                     ("ReplyTextAppended", "Hello"), ("MessageAppended", None), ("ReplyFinished", "complete")]
    (stored,) = manager.messages("chat")
    assert {event.message_id for event in events} == {stored.id}
    assert isinstance(events[0], ReplyStarted) and events[0].author == "helper"


def test_a_stream_cut_off_before_any_text_is_discarded_not_stored(manager: ConversationManager, bus: EventBus) -> None:
    events: list[Event] = []
    bus.subscribe(events.append)
    stream = manager.start_stream("chat")
    assert stream.interrupt() is None
    assert manager.messages("chat") == []
    assert [(type(event), getattr(event, "status", None)) for event in events] == [
        (ReplyStarted, None), (ReplyFinished, "discarded"),
    ]
    assert not any(isinstance(event, (MessageAppended, ReplyTextAppended, ReplyRestarted)) for event in events)


def test_a_tool_result_keeps_its_outcome_and_legacy_results_are_read_from_their_text(
        manager: ConversationManager, workspace: WorkspacePaths) -> None:
    manager.append("chat", Message(role="tool", tool_call_id="c1", name="read_file", ok=True,
                                   content="Error: this is the file's own first line"))
    legacy = [{"role": "tool", "tool_call_id": "c2", "name": "read_file", "content": "Error: no such file"},
              {"role": "tool", "tool_call_id": "c3", "name": "read_file", "content": "text of a"}]
    with open(workspace.conversation_file("chat"), "ab") as handle:
        handle.write(b"".join(orjson.dumps(record) + b"\n" for record in legacy))
    assert orjson.loads(workspace.conversation_file("chat").read_bytes().splitlines()[0])["ok"] is True
    assert [(m.tool_call_id, m.ok) for m in manager.messages("chat")] == [("c1", True), ("c2", False), ("c3", True)]


def test_stream_from_a_dead_process_reads_as_interrupted(manager: ConversationManager, workspace: WorkspacePaths) -> None:
    dead_pid = 2 ** 22 + 12345  # above the default pid_max, so no process has it
    record = Message(role="assistant", content="partial answ", status="streaming", pid=dead_pid)
    with open(workspace.conversation_file("chat"), "ab") as handle:
        handle.write(orjson.dumps(record.model_dump(mode="json")) + b"\n")
    messages = manager.messages("chat")
    assert [(m.content, m.status) for m in messages] == [("partial answ", "interrupted")]
    last = orjson.loads(workspace.conversation_file("chat").read_bytes().splitlines()[-1])
    assert last["status"] == "interrupted", "the interruption is written down, not only shown"


def test_corrupt_line_is_reported_and_the_rest_kept(workspace: WorkspacePaths, bus: EventBus) -> None:
    manager = ConversationManager(workspace, bus)
    manager.append("chat", Message(role="user", content="first"))
    with open(workspace.conversation_file("chat"), "ab") as handle:
        handle.write(b'{"role": "user", "content": \n')
        handle.write(b'{"role": "wizard", "content": "bad role"}\n')
    manager.append("chat", Message(role="user", content="second"))
    events: list[FileQuarantined] = []
    bus.subscribe(events.append, FileQuarantined)
    fresh = ConversationManager(workspace, bus)
    assert [m.content for m in fresh.messages("chat")] == ["first", "second"]
    assert len(events) == 1 and "2 unreadable line(s)" in events[0].reason
    backups = list(workspace.conversations_dir.glob("chat.jsonl.corrupt-*"))
    assert len(backups) == 1 and b"bad role" in backups[0].read_bytes(), "the original is kept aside"


def test_torn_last_line_does_not_swallow_the_next_message(workspace: WorkspacePaths, bus: EventBus) -> None:
    manager = ConversationManager(workspace, bus)
    manager.append("chat", Message(role="user", content="before crash"))
    with open(workspace.conversation_file("chat"), "ab") as handle:
        handle.write(b'{"role": "assistant", "content": "half')
    manager.append("chat", Message(role="user", content="after restart"))
    contents = [m.content for m in ConversationManager(workspace, bus).messages("chat")]
    assert contents == ["before crash", "after restart"]


def test_corrupt_index_is_quarantined_and_rebuilt(workspace: WorkspacePaths, bus: EventBus) -> None:
    manager = ConversationManager(workspace, bus)
    manager.create("research")
    manager.append("research", Message(role="user", content="q"))
    workspace.conversation_index.write_text('{"version": 1, "conversations": [1, 2')
    events: list[FileQuarantined] = []
    bus.subscribe(events.append, FileQuarantined)
    rebuilt = ConversationManager(workspace, bus)
    listed = {summary.name: summary.message_count for summary in rebuilt.list()}
    assert listed == {"chat": 0, "research": 1}
    assert events and events[0].path == str(workspace.conversation_index)
    assert len(list(workspace.conversations_dir.glob("index.json.corrupt-*"))) == 1
