"""Atomic writes, quarantine of corrupt documents, and the event log."""

from __future__ import annotations

from pathlib import Path

import orjson

from oboto.core.atomic import append_line, atomic_write_json
from oboto.core.bus import EventBus
from oboto.core.events import FileQuarantined, WorkspaceWarning
from oboto.core.models import Document
from oboto.core.store import load_document


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

