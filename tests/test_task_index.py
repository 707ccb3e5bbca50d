"""The runner's task index: an event costs one read of the record it names, whatever the number of records."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path

from oboto.core import safe_open
from oboto.core.events import FileQuarantined
from oboto.core.models import utc_now
from oboto.core.paths import WorkspacePaths
from oboto.core.store import save_document
from oboto.services.runner import Runner
from oboto.services.runtime import Runtime
from oboto.services.task_index import decode_snapshot
from oboto.services.task_models import TaskRecord
from oboto.testing import Reply, ScriptedLLM, async_wait_until
from runtime_helpers import runner

EXISTING_RECORDS = 300


def finished_records(workspace: WorkspacePaths, count: int) -> list[TaskRecord]:
    """`count` finished tasks whose notices were posted, written as an earlier runner left them."""
    ended = utc_now() - timedelta(hours=1)
    records = [TaskRecord(description=f"run {index}", query="q", status="completed", result="done",
                          created_at=ended, finished_at=ended, notice_posted=True) for index in range(count)]
    for record in records:
        save_document(workspace.task_record(record.id), record)
    return records


class ReadCounter:
    """Every file of the tasks folder read through safe_open, and every record the index read."""

    def __init__(self, runtime: Runtime, monkeypatch) -> None:
        self.files: list[Path] = []
        self.indexed: list[Path] = []
        tasks_dir = runtime.paths.tasks_dir
        original_read, index_read = safe_open.read_bytes, runtime.tasks.index._read

        def read_bytes(path: Path, **kwargs) -> bytes:
            if Path(path).parent == tasks_dir:
                self.files.append(Path(path))
            return original_read(path, **kwargs)

        def read_for_index(path: Path):
            self.indexed.append(path)
            return index_read(path)

        monkeypatch.setattr(safe_open, "read_bytes", read_bytes)
        monkeypatch.setattr(runtime.tasks.index, "_read", read_for_index)


async def test_a_record_another_process_wrote_is_read_once_and_no_other_record_is(
        workspace: WorkspacePaths, llm_env: ScriptedLLM, monkeypatch) -> None:
    llm_env.respond_with(lambda request: Reply(text="done"))
    old = finished_records(workspace, EXISTING_RECORDS)
    async with runner(workspace) as runtime:
        assert len(runtime.tasks.index) == EXISTING_RECORDS
        reads = ReadCounter(runtime, monkeypatch)
        other_process = Runtime.open(workspace.root)  # not the runner: it only writes the request
        spawned = other_process.tasks.spawn("from elsewhere", "do it")
        path = workspace.task_record(spawned.id)

        runtime.workspace_changed(frozenset({path}))  # what the runner's watcher hands over

        assert reads.indexed == [path], "the index read the changed record once"
        assert set(reads.files) == {path}, "no other record was read"
        assert spawned.id in runtime.tasks.running_ids, "the runner picked the work up"
        done = await runtime.tasks.wait(spawned.id, 10)
        assert done.status == "completed"

        reads.indexed.clear()
        runtime.workspace_changed(frozenset({path}))  # the runner's own last write, reported late
        assert reads.indexed == [], "the runner's own write is not read back"
        assert [record.id for record in runtime.tasks.list(("completed",))][-1] == spawned.id
        assert len(runtime.tasks.list(("completed",))) == len(old) + 1


async def test_a_record_removed_by_another_process_leaves_the_index(workspace: WorkspacePaths, llm_env) -> None:
    (gone, kept) = finished_records(workspace, 2)
    async with runner(workspace) as runtime:
        workspace.task_record(gone.id).unlink()
        runtime.workspace_changed(frozenset({workspace.task_record(gone.id)}))
        assert [record.id for record in runtime.tasks.list()] == [kept.id]
        assert runtime.tasks.counts() == {"completed": 1}


async def test_recovery_marks_interrupted_only_what_was_running(workspace: WorkspacePaths, llm_env) -> None:
    finished_records(workspace, 20)
    left_running = TaskRecord(description="was running", query="q", status="running", runner_pid=999_999)
    save_document(workspace.task_record(left_running.id), left_running)
    async with runner(workspace) as runtime:
        record = runtime.tasks.get(left_running.id)
        assert record.status == "interrupted" and "process 999999" in (record.error or "")
        assert runtime.tasks.counts() == {"completed": 20, "interrupted": 1}


async def test_the_rebuild_moves_a_corrupt_record_or_a_link_aside_and_indexes_the_rest(
        workspace: WorkspacePaths, llm_env, tmp_path: Path) -> None:
    (good,) = finished_records(workspace, 1)
    workspace.task_record("t-deadbeef").write_text('{"id": "t-deadbeef", "status": ')
    outside = tmp_path / "elsewhere.json"
    outside.write_bytes(workspace.task_record(good.id).read_bytes().replace(good.id.encode(), b"t-0000beef"))
    workspace.task_record("t-0000beef").symlink_to(outside)
    async with runner(workspace) as runtime:
        assert [record.id for record in runtime.tasks.list()] == [good.id]
    assert list(workspace.tasks_dir.glob("t-deadbeef.json.corrupt-*"))
    assert list(workspace.tasks_dir.glob("t-0000beef.json.corrupt-*")) and outside.exists()


def count_first_reads(runtime: Runtime, monkeypatch) -> list[str]:
    """The record names the index's build read (instead of taking them from the snapshot)."""
    names: list[str] = []
    index = runtime.tasks.index
    original = index._first_read

    def first_read(folder: int, name: str):
        names.append(name)
        return original(folder, name)

    monkeypatch.setattr(index, "_first_read", first_read)
    return names


async def test_a_restart_reads_only_the_records_changed_since_the_snapshot(
        workspace: WorkspacePaths, llm_env: ScriptedLLM, monkeypatch) -> None:
    llm_env.respond_with(lambda request: Reply(text="done"))
    finished_records(workspace, 30)
    async with runner(workspace) as first:
        records = first.tasks.list()
    unchanged = records[0]
    assert workspace.tasks_dir.joinpath("index.snapshot").is_file()
    # While no runner is up: one record is rewritten as a dead runner left it, one removed, one task spawned.
    crashed = records[1].model_copy(update={"status": "running", "finished_at": None, "runner_pid": 999_999})
    save_document(workspace.task_record(crashed.id), crashed)
    workspace.task_record(records[2].id).unlink()
    spawned = Runtime.open(workspace.root).tasks.spawn("while down", "do it")
    second = Runtime.open(workspace.root)
    read = count_first_reads(second, monkeypatch)
    second.activate_runner()
    try:
        assert sorted(read) == sorted([f"{crashed.id}.json", f"{spawned.id}.json"])
        assert second.tasks.get(crashed.id).status == "interrupted"
        assert records[2].id not in {record.id for record in second.tasks.list()}
        assert (await second.tasks.wait(spawned.id, 30)).status == "completed"
        assert second.tasks.get(unchanged.id).status == "completed"
        assert second.tasks.counts() == {"completed": 29, "interrupted": 1}
    finally:
        await second.deactivate_runner("the test finished")


async def test_a_damaged_snapshot_is_moved_aside_reported_and_the_index_built_from_the_records(
        workspace: WorkspacePaths, llm_env) -> None:
    finished_records(workspace, 5)
    snapshot = workspace.tasks_dir / "index.snapshot"
    snapshot.write_text('{"format": 1, "entries": [["t-00000001", "completed"')
    runtime = Runtime.open(workspace.root)
    moved: list[FileQuarantined] = []
    runtime.bus.subscribe(moved.append, FileQuarantined)
    runtime.activate_runner()
    try:
        assert runtime.tasks.counts() == {"completed": 5}
        (aside,) = workspace.tasks_dir.glob("index.snapshot.corrupt-*")
        assert [Path(event.moved_to) for event in moved] == [aside]
        assert aside.read_text().startswith('{"format": 1')
        assert len(decode_snapshot(snapshot.read_bytes())) == 5
    finally:
        await runtime.deactivate_runner("the test finished")


async def test_the_runner_runs_new_work_while_its_index_builds_and_recovers_once_it_is_built(
        workspace: WorkspacePaths, llm_env: ScriptedLLM, monkeypatch) -> None:
    llm_env.respond_with(lambda request: Reply(text="done"))
    finished_records(workspace, 5)
    left_running = TaskRecord(description="was running", query="q", status="running", runner_pid=999_999)
    save_document(workspace.task_record(left_running.id), left_running)
    runtime = Runtime.open(workspace.root)
    release = threading.Event()
    load_snapshot = runtime.tasks.index._load_snapshot
    monkeypatch.setattr(runtime.tasks.index, "_load_snapshot", lambda: release.wait() and load_snapshot())
    runner = Runner(runtime)
    serving = asyncio.create_task(runner.run(wait_for_lock=False))
    try:
        assert await runner.wait_until_active(20)
        spawned = runtime.tasks.spawn("while the index builds", "do it")
        assert (await runtime.tasks.wait(spawned.id, 30)).status == "completed"
        assert not runtime.tasks.index.ready, "the build is still held"
        assert not runtime.tasks.under_way(runtime.tasks.get(left_running.id)), "a dead runner's run is not under way"
        release.set()
        await async_wait_until(lambda: runtime.tasks.get(left_running.id).status == "interrupted", timeout=10)
        assert runtime.tasks.counts() == {"completed": 6, "interrupted": 1}
        await async_wait_until(lambda: runtime.tasks.get(spawned.id).notice_posted, timeout=10)
    finally:
        release.set()
        runner.stop()
        await serving


async def test_waiting_for_a_task_in_the_runner_returns_once_its_index_agrees(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    """The record's file is in place a moment before the index hears of its end: what the runner counts right
    after `wait` returns must already count the task as ended."""
    llm_env.add(Reply(text="done"))
    async with runner(workspace) as runtime:
        index = runtime.tasks.index
        real_put = index.put

        def late_put(record: TaskRecord, written) -> None:
            if record.finished:
                threading.Event().wait(0.5)  # the writer thread hears late; the file is already renamed
            real_put(record, written)

        index.put = late_put  # type: ignore[method-assign]
        spawned = runtime.tasks.spawn("one", "q")
        assert (await runtime.tasks.wait(spawned.id, 30)).status == "completed"
        assert runtime.tasks.counts() == {"completed": 1}
