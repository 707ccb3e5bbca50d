"""The input history service: `.oboto/input-history`, its cap, and a damaged file."""

from __future__ import annotations

import orjson

from oboto.core.bus import EventBus
from oboto.core.events import Event, FileQuarantined
from oboto.core.paths import WorkspacePaths
from oboto.services.input_history import MAX_ENTRIES, MAX_ENTRY_CHARS, InputHistory


def history(workspace: WorkspacePaths) -> tuple[InputHistory, list[Event]]:
    bus = EventBus(workspace.events)
    seen: list[Event] = []
    bus.subscribe(seen.append)
    return InputHistory(workspace.input_history, bus), seen


def test_entries_come_back_oldest_first_multi_line_ones_whole(workspace: WorkspacePaths) -> None:
    kept, _seen = history(workspace)
    for text in ("first", "a\nmulti-line\nmessage", "/diff"):
        kept.add(text)
    kept.add("   ")  # blank: not kept
    assert kept.entries() == ["first", "a\nmulti-line\nmessage", "/diff"]
    lines = workspace.input_history.read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == ["first", "a\nmulti-line\nmessage", "/diff"]
    assert history(workspace)[0].entries() == kept.entries()  # another process reads the same


def test_an_oversized_message_is_not_kept(workspace: WorkspacePaths) -> None:
    kept, _seen = history(workspace)
    kept.add("x" * (MAX_ENTRY_CHARS + 1))
    kept.add("short")
    assert kept.entries() == ["short"]


def test_the_file_is_cut_back_to_the_newest_entries(workspace: WorkspacePaths) -> None:
    kept, _seen = history(workspace)
    for number in range(2 * MAX_ENTRIES):
        kept.add(f"message {number}")
    entries = kept.entries()
    assert len(entries) == MAX_ENTRIES
    assert entries[0] == f"message {MAX_ENTRIES}" and entries[-1] == f"message {2 * MAX_ENTRIES - 1}"
    assert len(workspace.input_history.read_bytes().splitlines()) == MAX_ENTRIES


def test_an_unreadable_line_is_dropped_reported_and_the_file_kept_aside(workspace: WorkspacePaths) -> None:
    workspace.input_history.write_bytes(b'"good one"\n{not json\n42\n"good two"\n')
    kept, seen = history(workspace)
    assert kept.entries() == ["good one", "good two"]
    quarantined = [event for event in seen if isinstance(event, FileQuarantined)]
    assert len(quarantined) == 1 and "2 unreadable line(s)" in quarantined[0].reason
    backups = list(workspace.state_dir.glob("input-history.corrupt-*"))
    assert [backup.read_bytes() for backup in backups] == [b'"good one"\n{not json\n42\n"good two"\n']
    assert workspace.input_history.read_bytes() == b'"good one"\n"good two"\n'


def test_a_linked_history_is_moved_aside_not_read_or_appended_to(workspace: WorkspacePaths, tmp_path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b'"a secret from elsewhere"\n')
    workspace.input_history.symlink_to(target)
    kept, seen = history(workspace)
    assert kept.entries() == []
    moved = [event for event in seen if isinstance(event, FileQuarantined)]
    assert [event.reason for event in moved] == ["is a symbolic link (oboto does not follow links here)"]
    assert workspace.state_dir.joinpath(moved[0].moved_to).is_symlink()  # the link itself, kept aside
    kept.add("mine")
    assert target.read_bytes() == b'"a secret from elsewhere"\n'  # the link's target is never written
    assert kept.entries() == ["mine"]
