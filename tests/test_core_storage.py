"""Atomic writes, quarantine of corrupt documents, the one read-modify-write (document_transaction), the event log."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest

from oboto.core.atomic import append_line, atomic_write_json
from oboto.core.bus import EventBus
from oboto.core import store
from oboto.core.events import FileQuarantined, ReplyTextAppended, WorkspaceWarning
from oboto.core.locks import ProcessLock, locked
from oboto.core.models import Document
from oboto.core.store import document_transaction, load_document


class Sample(Document):
    count: int = 0


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    atomic_write_json(target, {"version": 1, "count": 1})
    atomic_write_json(target, {"version": 1, "count": 2})
    assert orjson.loads(target.read_bytes())["count"] == 2
    assert [path.name for path in tmp_path.iterdir()] == ["doc.json"]


def test_corrupt_document_is_moved_aside_and_reported(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.write_text("{not json")
    bus = EventBus()
    seen: list[FileQuarantined] = []
    bus.subscribe(seen.append, FileQuarantined)
    assert load_document(target, Sample, bus) is None
    assert not target.exists()
    moved = list(tmp_path.glob("doc.json.corrupt-*"))
    assert len(moved) == 1 and moved[0].read_text() == "{not json"
    assert seen and seen[0].moved_to == str(moved[0]) and "not valid JSON" in seen[0].reason


def test_invalid_document_reason_names_the_field(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.write_text('{"version": 1, "count": "many"}')
    bus = EventBus()
    seen: list[FileQuarantined] = []
    bus.subscribe(seen.append)
    assert load_document(target, Sample, bus) is None
    assert seen[0].reason.startswith("count:")


def test_unknown_fields_from_newer_versions_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.write_text('{"version": 1, "count": 3, "added_later": {"x": 1}}')
    document = load_document(target, Sample, None)
    assert document is not None
    assert document.model_dump(mode="json")["added_later"] == {"x": 1}


def test_event_log_appends_and_rotates(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    bus = EventBus(log, max_bytes=10_000, backups=2)
    for index in range(400):
        bus.publish(WorkspaceWarning(message=f"warning {index:04d} " + "x" * 40))
    rotated = sorted(path.name for path in tmp_path.glob("events.jsonl*"))
    assert rotated == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    last = orjson.loads(log.read_bytes().splitlines()[-1])
    assert last["type"] == "workspace:warning" and last["message"].startswith("warning 0399")
    assert all(path.stat().st_size <= 10_000 + 200 for path in tmp_path.glob("events.jsonl*"))


def test_events_marked_not_logged_reach_subscribers_but_not_the_event_log(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    bus = EventBus(log)
    received: list[str] = []
    bus.subscribe(lambda event: received.append(event.kind))
    bus.publish(ReplyTextAppended(conversation="chat", message_id="m1", delta="Hel"))
    bus.publish(WorkspaceWarning(message="logged"))
    assert received == ["conversation:reply-text", "workspace:warning"]
    assert [orjson.loads(line)["type"] for line in log.read_bytes().splitlines()] == ["workspace:warning"]


def test_subscriber_failure_does_not_break_publisher(tmp_path: Path) -> None:
    bus = EventBus()
    received: list[str] = []

    def broken(event) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(lambda event: received.append(event.kind))
    bus.publish(WorkspaceWarning(message="hi"))
    assert received == ["workspace:warning"]


def test_append_line_keeps_lines_whole(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    for index in range(50):
        append_line(log, orjson.dumps({"i": index}), fsync=False)
    assert [orjson.loads(line)["i"] for line in log.read_bytes().splitlines()] == list(range(50))


# ----- document_transaction: the one read-modify-write ------------------------------------------


def lock_is_free(path: Path) -> bool:
    """Whether nobody holds `<path>.lock` right now (the flock `document_transaction` takes)."""
    return ProcessLock(path.with_name(path.name + ".lock")).holder_pid() is None


def test_a_transaction_saves_the_change_and_publishes_after_the_lock_is_released(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    atomic_write_json(target, {"version": 1, "count": 1})
    bus = EventBus()
    seen: list[tuple[bool, int]] = []

    def subscriber(event: WorkspaceWarning) -> None:
        free = lock_is_free(target)
        with document_transaction(target, Sample, bus, default=Sample) as again:  # would wait forever under the lock
            again.doc.count += 10
        seen.append((free, again.doc.count))

    bus.subscribe(subscriber, WorkspaceWarning)
    with document_transaction(target, Sample, bus, default=Sample) as tx:
        tx.doc.count += 1
        tx.publish(WorkspaceWarning(message="counted"))
        assert not lock_is_free(target) and seen == []  # held while changing; nothing published yet
    assert seen == [(True, 12)]
    assert orjson.loads(target.read_bytes())["count"] == 12


def test_a_corrupt_document_is_quarantined_not_overwritten_by_a_transaction(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.write_text('{"version": 1, "count": "many"')
    bus = EventBus()
    seen: list[FileQuarantined] = []
    bus.subscribe(seen.append, FileQuarantined)
    with document_transaction(target, Sample, bus, default=lambda: Sample(count=100)) as tx:
        assert not tx.found and tx.doc.count == 100
        tx.doc.count += 1
    [moved] = tmp_path.glob("doc.json.corrupt-*")
    assert moved.read_text() == '{"version": 1, "count": "many"'
    assert orjson.loads(target.read_bytes())["count"] == 101
    assert [event.moved_to for event in seen] == [str(moved)]


def test_an_exception_inside_the_change_saves_and_publishes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    atomic_write_json(target, {"version": 1, "count": 1})
    before = target.read_bytes()
    bus = EventBus()
    seen: list[object] = []
    bus.subscribe(seen.append)
    with pytest.raises(ValueError, match="refused"):
        with document_transaction(target, Sample, bus, default=Sample) as tx:
            tx.doc.count = 2
            tx.publish(WorkspaceWarning(message="changed"))
            raise ValueError("refused")
    assert target.read_bytes() == before and seen == [] and lock_is_free(target)
    assert [path.name for path in tmp_path.iterdir() if not path.name.endswith(".lock")] == ["doc.json"]


def test_a_quarantine_is_reported_even_when_the_change_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.write_text("{not json")
    bus = EventBus()
    seen: list[object] = []
    bus.subscribe(seen.append)

    def refuse() -> Sample:
        raise LookupError("no such document")

    with pytest.raises(LookupError):
        with document_transaction(target, Sample, bus, default=refuse):
            pass
    assert [type(event) for event in seen] == [FileQuarantined]
    assert not target.exists() and len(list(tmp_path.glob("doc.json.corrupt-*"))) == 1


def test_an_unchanged_document_is_not_written(tmp_path: Path) -> None:
    missing, present = tmp_path / "missing.json", tmp_path / "present.json"
    atomic_write_json(present, {"version": 1, "count": 3, "added_later": "kept"})
    inode = present.stat().st_ino
    for path in (missing, present):
        with document_transaction(path, Sample, None, default=Sample) as tx:
            tx.doc.count = tx.doc.count  # a look, not a change
        assert tx.written is None
    assert not missing.exists() and present.stat().st_ino == inode
    with document_transaction(missing, Sample, None, default=Sample) as tx:
        tx.save_unchanged()
    assert tx.written is not None and tx.written.st_ino == missing.stat().st_ino


def test_a_nested_transaction_on_the_same_document_is_refused_not_deadlocked(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    with document_transaction(target, Sample, None, default=Sample) as tx:
        tx.doc.count = 1
        with pytest.raises(RuntimeError, match="already being changed"):
            with document_transaction(target, Sample, None, default=Sample):
                pass
        assert load_document(target, Sample, None) is None  # reading inside needs no lock
    assert orjson.loads(target.read_bytes())["count"] == 1


def test_a_corrupt_read_is_decided_under_the_lock_so_a_fresh_good_file_is_never_moved(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "doc.json"
    target.write_text("{half written by hand")
    parsed_once = threading.Event()
    original_parse = store._parse

    def parse_and_signal(path: Path, model: type[Sample]):
        result = original_parse(path, model)
        parsed_once.set()
        return result

    monkeypatch.setattr(store, "_parse", parse_and_signal)
    results: list[Sample | None] = []
    with locked(target):  # another process is in the middle of a transaction on the file
        reader = threading.Thread(target=lambda: results.append(load_document(target, Sample, None)))
        reader.start()
        assert parsed_once.wait(10)
        atomic_write_json(target, {"version": 1, "count": 7})  # that transaction saves a good document
    reader.join(10)
    assert [result.count for result in results if result] == [7]
    assert list(tmp_path.glob("doc.json.corrupt-*")) == []
