"""Retention: old finished tasks move with their logs into the monthly archive; status and output still find them;
a kill -9 at any point of a move loses and duplicates nothing; old episodes are pruned, facts are not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta

import orjson
import pytest

from oboto.core.events import TasksArchived, WorkspaceWarning
from oboto.core.models import utc_now
from oboto.core.paths import WorkspacePaths
from oboto.core.store import save_document
from oboto.services.memory import MemoryStore
from oboto.services.runtime import Runtime
from oboto.services.task_history import TaskHistory
from oboto.services.task_models import TaskRecord
from cli_helpers import oboto

DAYS_AGO = 40


def old_task(workspace: WorkspacePaths, name: str, *, days: float = DAYS_AGO, posted: bool = True,
             status: str = "completed") -> TaskRecord:
    """A finished task as a runner left it `days` ago: record, output log and history."""
    ended = utc_now() - timedelta(days=days)
    record = TaskRecord(description=name, query=f"do {name}", status=status, result=f"{name} is done",
                        created_at=ended, finished_at=ended if status != "running" else None, notice_posted=posted)
    save_document(workspace.task_record(record.id), record)
    workspace.task_log(record.id).write_text(f"[12:00:00] ▶ {name}\nworking on {name}\n[12:00:01] ■ completed\n")
    save_document(workspace.task_history(record.id), TaskHistory(messages=[{"role": "user", "content": name}]))
    return record


def archived_ids(workspace: WorkspacePaths) -> list[str]:
    ids = []
    for path in sorted(workspace.task_archive_dir.glob("*.jsonl")):
        for line in path.read_bytes().splitlines(keepends=True):
            if line.endswith(b"\n"):
                ids.append(orjson.loads(line)["id"])
    return ids


def live_ids(workspace: WorkspacePaths) -> list[str]:
    return sorted(path.stem for path in workspace.tasks_dir.glob("t-*.json"))


def test_old_finished_tasks_move_with_their_logs_and_are_still_found(workspace: WorkspacePaths, llm_env) -> None:
    old = old_task(workspace, "old report")
    recent = old_task(workspace, "recent report", days=2)
    unposted = old_task(workspace, "old but untold", posted=False)
    running = old_task(workspace, "old but running", status="running")
    runtime = Runtime.open(workspace.root)
    archived_events = []
    runtime.bus.subscribe(archived_events.append, TasksArchived)

    assert runtime.tasks.retire_finished() == 1

    assert live_ids(workspace) == sorted([recent.id, unposted.id, running.id])
    assert not workspace.task_log(old.id).exists() and not workspace.task_history(old.id).exists()
    assert archived_ids(workspace) == [old.id]
    assert [event.count for event in archived_events] == [1]
    assert old.id not in [record.id for record in runtime.tasks.list()]
    assert old.id in [record.id for record in runtime.tasks.list(archived=True)]
    assert runtime.tasks.get(old.id).result == "old report is done"
    assert runtime.tasks.output(old.id, tail=1).text == "[12:00:01] ■ completed\n"
    assert "working on old report" in runtime.tasks.output(old.id).text

    status = oboto(workspace.root, "tasks", "status", old.id, "--json")
    assert status.returncode == 0 and orjson.loads(status.stdout)["description"] == "old report"
    output = oboto(workspace.root, "tasks", "output", old.id)
    assert output.returncode == 0 and "working on old report" in output.stdout
    listed = oboto(workspace.root, "tasks", "list", "--json")
    everything = oboto(workspace.root, "tasks", "list", "--all", "--json")
    assert old.id not in [row["id"] for row in orjson.loads(listed.stdout)]
    assert old.id in [row["id"] for row in orjson.loads(everything.stdout)]


def test_an_archived_task_cannot_be_continued_and_says_why(workspace: WorkspacePaths, llm_env) -> None:
    old = old_task(workspace, "old report")
    runtime = Runtime.open(workspace.root)
    runtime.tasks.retire_finished()
    with pytest.raises(Exception, match="archived; spawn a new task"):
        runtime.tasks.continue_task(old.id, "and then?")


def test_a_torn_archive_tail_is_cut_off_before_the_next_entry(workspace: WorkspacePaths, llm_env) -> None:
    first = old_task(workspace, "first")
    runtime = Runtime.open(workspace.root)
    runtime.tasks.retire_finished()
    (month_file,) = workspace.task_archive_dir.glob("*.jsonl")
    with month_file.open("ab") as handle:
        handle.write(b'{"id":"t-0badbad0","version":1,"record":{"id":"t-0ba')  # what a crash mid-write leaves
    assert runtime.tasks.get(first.id).description == "first", "a reader skips the torn tail"
    second = old_task(workspace, "second")
    warnings = []
    runtime.bus.subscribe(warnings.append, WorkspaceWarning)

    runtime.tasks.retire_finished()

    assert archived_ids(workspace) == [first.id, second.id]
    assert month_file.read_bytes().endswith(b"\n")
    assert any("cut short" in warning.message for warning in warnings)


KILL_AT = {
    "mid-write": """
        real_write = os.write
        def write(fd, data):
            if b'"archived_at"' in bytes(data):
                real_write(fd, bytes(data)[: len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
            return real_write(fd, data)
        os.write = write
    """,
    "after-sync": """
        def unlink(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        os.unlink = unlink
    """,
    "mid-removal": """
        real_unlink, calls = os.unlink, []
        def unlink(*args, **kwargs):
            calls.append(args)
            if len(calls) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return real_unlink(*args, **kwargs)
        os.unlink = unlink
    """,
}


@pytest.mark.parametrize("point", sorted(KILL_AT))
def test_a_kill_during_a_move_loses_and_duplicates_nothing(workspace: WorkspacePaths, llm_env, point: str) -> None:
    tasks = [old_task(workspace, f"task {index}") for index in range(6)]
    script = textwrap.dedent("""
        import os, signal, sys
        from oboto.services.runtime import Runtime
        runtime = Runtime.open(sys.argv[1])
    """) + textwrap.dedent(KILL_AT[point]) + "runtime.tasks.retire_finished()\n"
    killed = subprocess.run([sys.executable, "-c", script, str(workspace.root)], capture_output=True, timeout=60)
    assert killed.returncode == -9, killed.stderr.decode()

    runtime = Runtime.open(workspace.root)
    runtime.tasks.retire_finished()

    every = [record.id for record in tasks]
    assert sorted(archived_ids(workspace)) == sorted(every), "each task archived exactly once"
    assert live_ids(workspace) == []
    for record in tasks:
        assert runtime.tasks.get(record.id).description == record.description
        assert f"working on {record.description}" in runtime.tasks.output(record.id).text


def test_episodes_older_than_the_retention_are_pruned_and_facts_are_not(workspace: WorkspacePaths, llm_env) -> None:
    from test_memory import HashEmbedder

    runtime = Runtime.open(workspace.root, memory={"episode_retention_days": 90})
    runtime.memory = memory = MemoryStore(runtime.paths, runtime.settings, runtime.bus, embedder=HashEmbedder())
    runtime.retention.memory = memory
    fact = memory.remember("The build server is in Frankfurt.", kind="fact")
    procedure = memory.remember("Deploy by tagging a release.", kind="procedure")
    episode = memory.remember("Task t-12345678 completed: cleaned the caches.", kind="episode")

    assert runtime.retention.run_once(now=utc_now() + timedelta(days=89)) == (0, 0), "not yet 90 days old"
    assert runtime.retention.run_once(now=utc_now() + timedelta(days=91)) == (0, 1)

    assert {record.id for record in memory.list()} == {fact.id, procedure.id}
    assert episode.id not in {record.id for record in memory.list(kind="episode")}
