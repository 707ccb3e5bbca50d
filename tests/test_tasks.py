"""TaskManager against the scripted LLM server: limits, cancel, timeout, notices, restart, read-only guard."""

from __future__ import annotations

import asyncio
import os

import orjson
import pytest

from oboto.services.runtime import Runtime
from oboto.services.task_models import TaskRecord
from oboto.services.tasks import TaskError
from runtime_helpers import runner
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall, async_wait_until


def last_user_text(request: dict) -> str:
    return next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")


async def test_spawn_returns_an_id_whose_record_is_already_on_disk(workspace, llm_env) -> None:
    runtime = Runtime.open(workspace.root)
    record = runtime.tasks.spawn("look around", "list the files")
    stored = orjson.loads(workspace.task_record(record.id).read_bytes())
    assert stored["status"] == "queued" and stored["query"] == "list the files" and stored["version"] == 1


async def test_task_runs_its_agent_with_tools_and_records_the_result(workspace, llm_env: ScriptedLLM) -> None:
    (workspace.root / "notes.txt").write_text("the answer is 42")
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("read_file", {"path": "notes.txt"})]), Reply(text="It says 42."))
    async with runner(workspace) as runtime:
        record = runtime.tasks.spawn("read notes", "what do the notes say?")
        done = await runtime.tasks.wait(record.id, 10)
        assert done.status == "completed" and done.result == "It says 42."
        assert done.iterations == 2 and done.tool_calls == 1 and done.usage.prompt_tokens > 0
        log = runtime.tasks.output(record.id).text
        assert "→ read_file" in log and "the answer is 42" in log and "■ completed" in log


async def test_concurrency_limit_holds_under_fifty_spawns_and_order_is_fifo(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="done", delay=0.05))
    async with runner(workspace, tasks={"max_concurrent": 3}) as runtime:
        ids = [runtime.tasks.spawn(f"job {index}", f"job {index}").id for index in range(50)]
        peak = 0

        def all_done() -> bool:
            nonlocal peak
            peak = max(peak, len(runtime.tasks.running_ids))
            return all(runtime.tasks.get(task_id).finished for task_id in ids)

        await async_wait_until(all_done, timeout=60, interval=0.005)
        records = [runtime.tasks.get(task_id) for task_id in ids]
    assert peak == 3
    intervals = sorted((r.started_at, 1) for r in records) + sorted((r.finished_at, -1) for r in records)
    running = overlap = 0
    for _, step in sorted(intervals, key=lambda item: (item[0], item[1])):
        running += step
        overlap = max(overlap, running)
    assert overlap <= 3, "never more than max_concurrent agents at once, by the records' own timestamps"
    starts = [r.id for r in sorted(records, key=lambda r: r.started_at)]
    assert starts == ids, "queued tasks start in the order they were spawned"


async def test_cancel_stops_the_agent_before_its_next_tool_call(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(
        Reply(tool_calls=[ScriptedToolCall("write_file", {"path": "first.txt", "content": "1"})]),
        Reply(tool_calls=[ScriptedToolCall("write_file", {"path": "second.txt", "content": "2"})], delay=5),
    )
    async with runner(workspace) as runtime:
        record = runtime.tasks.spawn("two writes", "write two files")
        await async_wait_until(lambda: (workspace.root / "first.txt").exists() and len(llm_env.requests) == 2)
        runtime.tasks.cancel(record.id)
        done = await runtime.tasks.wait(record.id, 2)
        assert done.status == "cancelled"
        await asyncio.sleep(0.2)
    assert not (workspace.root / "second.txt").exists()
    assert len(llm_env.requests) == 2


async def test_cancel_requested_by_another_process_is_honoured(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="slow", delay=10))
    async with runner(workspace) as runtime:
        record = runtime.tasks.spawn("slow", "take your time")
        await async_wait_until(lambda: runtime.tasks.get(record.id).status == "running")
        client = Runtime.open(workspace.root)
        assert client.tasks.cancel(record.id).cancel_requested
        runtime.workspace_changed({workspace.task_record(record.id)})
        assert (await runtime.tasks.wait(record.id, 2)).status == "cancelled"


async def test_cancel_of_a_queued_task_is_immediate(workspace, llm_env: ScriptedLLM) -> None:
    client = Runtime.open(workspace.root)
    record = client.tasks.spawn("never", "never runs")
    cancelled = client.tasks.cancel(record.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    async with runner(workspace) as runtime:
        await asyncio.sleep(0.2)
        assert runtime.tasks.get(record.id).status == "cancelled"
    assert llm_env.requests == []


async def test_timeout_marks_the_task_timed_out(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="too late", delay=5))
    async with runner(workspace) as runtime:
        record = runtime.tasks.spawn("slow", "slow", timeout_seconds=0.3)
        done = await runtime.tasks.wait(record.id, 3)
    assert done.status == "timed_out" and "0.3s time limit" in (done.error or "")


async def test_wait_returns_the_current_record_when_its_timeout_passes(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="later", delay=5))
    async with runner(workspace) as runtime:
        record = runtime.tasks.spawn("slow", "slow")
        snapshot = await runtime.tasks.wait(record.id, 0.2)
        assert snapshot.status == "running" and not snapshot.finished


async def test_twenty_tasks_ending_together_all_reach_chat(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text=f"result for {last_user_text(request)}"))
    async with runner(workspace, tasks={"max_concurrent": 20}) as runtime:
        ids = [runtime.tasks.spawn(f"job {index}", f"job-{index}").id for index in range(20)]
        await async_wait_until(lambda: all(runtime.tasks.get(task_id).notice_posted for task_id in ids), timeout=20)
        chat = "\n".join(m.content for m in runtime.conversations.messages("chat") if m.marker == "task-notice")
    assert all(task_id in chat for task_id in ids)
    notices = [m for m in runtime.conversations.messages("chat") if m.marker == "task-notice"]
    assert len(notices) < 20, "notices of tasks ending together are batched"


async def test_running_tasks_of_a_dead_runner_become_interrupted_and_notice_is_posted(workspace, llm_env) -> None:
    dead_pid = 2 ** 22 + 999
    record = TaskRecord(description="orphan", query="q", status="running", runner_pid=dead_pid)
    workspace.task_record(record.id).write_bytes(orjson.dumps(record.model_dump(mode="json")))
    async with runner(workspace) as runtime:
        recovered = runtime.tasks.get(record.id)
        assert recovered.status == "interrupted" and str(dead_pid) in (recovered.error or "")
        await async_wait_until(lambda: runtime.tasks.get(record.id).notice_posted)
        assert any(record.id in m.content for m in runtime.conversations.messages("chat"))


async def test_queued_tasks_survive_a_restart_and_run(workspace, llm_env: ScriptedLLM) -> None:
    record = Runtime.open(workspace.root).tasks.spawn("later", "run after restart")
    async with runner(workspace) as runtime:
        assert (await runtime.tasks.wait(record.id, 10)).status == "completed"


async def test_schedule_agents_are_read_only_while_the_person_is_mid_turn(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(
        Reply(tool_calls=[ScriptedToolCall("write_file", {"path": "sneaky.txt", "content": "x"})]),
        Reply(text="could not write"),
    )
    async with runner(workspace) as runtime:
        with runtime.foreground.turn():
            record = runtime.tasks.spawn("tidy", "tidy up", origin="schedule")
            done = await runtime.tasks.wait(record.id, 10)
    assert done.status == "completed"
    assert not (workspace.root / "sneaky.txt").exists()
    offered = {tool["function"]["name"] for tool in llm_env.requests[0]["tools"]}
    assert "read_file" in offered and "write_file" not in offered and "run_command" not in offered
    tool_result = [m for m in llm_env.requests[1]["messages"] if m["role"] == "tool"][0]["content"]
    assert "not available right now" in tool_result


async def test_user_tasks_may_write_while_the_person_is_mid_turn(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("write_file", {"path": "ok.txt", "content": "x"})]), Reply(text="ok"))
    async with runner(workspace) as runtime:
        with runtime.foreground.turn():
            record = runtime.tasks.spawn("write", "write it", origin="user")
            await runtime.tasks.wait(record.id, 10)
    assert (workspace.root / "ok.txt").read_text() == "x"


async def test_spawn_depth_is_limited(workspace, llm_env: ScriptedLLM) -> None:
    runtime = Runtime.open(workspace.root)
    ctx = runtime.tool_context(task_id="t-00000000", depth=2, background=True)
    result = await runtime.tools.execute("spawn_background_task", {"description": "deeper", "query": "q"}, ctx)
    assert not result.ok and "nested 2 deep" in result.content
    ok = await runtime.tools.execute("spawn_background_task", {"description": "d", "query": "q"},
                                     runtime.tool_context(task_id="t-00000000", depth=1, background=True))
    assert ok.ok and ok.data and runtime.tasks.get(ok.data["task_id"]).depth == 2


async def test_output_tail_and_offset_reads(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="line one\nline two\nline three"))
    async with runner(workspace) as runtime:
        record = runtime.tasks.spawn("talk", "say three lines")
        await runtime.tasks.wait(record.id, 10)
        whole = runtime.tasks.output(record.id)
        assert "line two" in whole.text and whole.offset == whole.size
        tail = runtime.tasks.output(record.id, tail=2).text.splitlines()
        assert len(tail) == 2 and tail[-1].endswith("■ completed")
        assert runtime.tasks.output(record.id, offset=whole.offset).text == ""


def test_unknown_and_malformed_ids_are_refused(workspace, llm_env) -> None:
    runtime = Runtime.open(workspace.root)
    with pytest.raises(TaskError, match="no task with id t-00000000"):
        runtime.tasks.get("t-00000000")
    with pytest.raises(TaskError, match="not a task id"):
        runtime.tasks.cancel("../../etc/passwd")


async def test_corrupt_task_record_is_quarantined_not_fatal(workspace, llm_env) -> None:
    good = Runtime.open(workspace.root).tasks.spawn("good", "q")
    (workspace.tasks_dir / "t-deadbeef.json").write_text("{broken")
    runtime = Runtime.open(workspace.root)
    assert [record.id for record in runtime.tasks.list()] == [good.id]
    assert list(workspace.tasks_dir.glob("t-deadbeef.json.corrupt-*"))


async def test_spawn_and_cancel_called_from_a_worker_thread_reach_the_runner(workspace, llm_env: ScriptedLLM) -> None:
    """The TUI calls services from thread workers: the runner still starts the task at once and stops it."""
    llm_env.add(Reply(text="slow", delay=30))
    async with runner(workspace) as runtime:
        record = await asyncio.to_thread(runtime.tasks.spawn, "slow", "slow job")
        await async_wait_until(lambda: runtime.tasks.get(record.id).status == "running")
        await asyncio.to_thread(runtime.tasks.cancel, record.id)
        # The reply would take 30 s: ending within the wait proves the agent itself was cancelled.
        done = await runtime.tasks.wait(record.id, 10)
    assert done.status == "cancelled" and done.error == "cancelled on request"
