"""AgentLoopController: persisted play/pause/resume/stop, prompt ticks, one loop task at a time."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import orjson
import pytest

from oboto.core.locks import locked
from oboto.core.models import utc_now
from oboto.core.paths import WorkspacePaths
from oboto.core.store import load_document, save_document
from oboto.services.conversation_models import Message
from oboto.services.loop_models import LoopError, LoopState
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall, async_wait_until


def events(paths: WorkspacePaths, kind: str) -> list[dict[str, Any]]:
    if not paths.events.exists():
        return []
    records = [orjson.loads(line) for line in paths.events.read_bytes().splitlines() if line.strip()]
    return [record for record in records if record["type"] == kind]


def make_due(runtime: Runtime) -> None:
    """Move the next tick into the past through the document, as another process would."""
    path = runtime.paths.agent_loop
    with locked(path):
        state = load_document(path, LoopState, None)
        assert state is not None
        state.next_tick_at = utc_now() - timedelta(seconds=1)
        save_document(path, state)
    runtime.agent_loop.reload()


def loop_tasks(runtime: Runtime) -> list:
    return [record for record in runtime.tasks.list() if record.origin == "agent-loop"]


def test_state_changes_are_persisted_and_restored(runtime: Runtime, workspace: WorkspacePaths) -> None:
    loop = runtime.agent_loop
    assert loop.status().state == "stopped" and loop.status().interval_seconds == 180
    played = loop.play(interval=30)
    assert played.state == "playing" and played.interval_seconds == 30
    assert abs((played.next_tick_at - utc_now()).total_seconds()) < 5  # the first tick is due at once
    loop.pause("lunch")
    restored = Runtime.open(workspace.root).agent_loop.status()
    assert (restored.state, restored.paused_reason, restored.interval_seconds) == ("paused", "lunch", 30)
    assert loop.resume().state == "playing"
    assert loop.set_interval(60).interval_seconds == 60
    assert Runtime.open(workspace.root).agent_loop.status().interval_seconds == 60
    stopped = loop.stop()
    assert stopped.state == "stopped" and stopped.interval_seconds == 60 and stopped.next_tick_at is None
    assert Runtime.open(workspace.root).agent_loop.status().state == "stopped"
    changes = [(event["state"], event["interval_seconds"]) for event in events(workspace, "agent-loop:state")]
    assert changes == [("playing", 30), ("paused", 30), ("playing", 30), ("playing", 60), ("stopped", 60)]


def test_configured_interval_is_the_default(workspace: WorkspacePaths, llm_env: ScriptedLLM,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBOTO_LOOP__INTERVAL_SECONDS", "45")
    assert Runtime.open(workspace.root).agent_loop.play().interval_seconds == 45


def test_gathered_inputs_reflect_the_workspace(runtime: Runtime) -> None:
    runtime.scheduler.create("nightly tests", "Run the tests.", interval_seconds=1800)
    queued = runtime.tasks.spawn("index the docs", "Index them.")
    runtime.conversations.append("chat", Message(role="user", content="hello"))
    runtime.agent_loop.play(interval=90)
    runtime.agent_loop.set_goals(["ship 1.0", "  "])
    now = utc_now()
    inputs = runtime.agent_loop.briefing_inputs(4, now)
    assert (inputs.invocation, inputs.now, inputs.interval_seconds) == (4, now, 90)
    assert inputs.workspace == str(runtime.paths.root) and inputs.persona == runtime.settings.agent.persona
    assert inputs.foreground_busy is False and inputs.goals == ("ship 1.0",) and inputs.memories == ()
    assert [(s.name, s.status, s.interval_seconds, s.run_count) for s in inputs.schedules] == [
        ("nightly tests", "active", 1800, 0)]
    assert [(t.id, t.status) for t in inputs.running_tasks] == [(queued.id, "queued")]
    assert [(c.role, c.content) for c in inputs.chat] == [("user", "hello")]


@pytest.mark.parametrize("bad", [0, -5, 9.99, math.nan, math.inf, -math.inf, "abc", True, None, 10**12])
def test_bad_intervals_are_refused(runtime: Runtime, bad: object) -> None:
    loop = runtime.agent_loop
    loop.play(interval=20)
    with pytest.raises(LoopError, match="interval must"):
        loop.set_interval(bad)  # type: ignore[arg-type]
    if bad is not None:  # play() without an interval is allowed: it keeps the current one
        with pytest.raises(LoopError, match="interval must"):
            loop.play(interval=bad)  # type: ignore[arg-type]
    assert loop.status().interval_seconds == 20


def test_a_stopped_loop_cannot_be_paused_or_resumed(runtime: Runtime) -> None:
    with pytest.raises(LoopError, match="stopped"):
        runtime.agent_loop.pause()
    with pytest.raises(LoopError, match="stopped"):
        runtime.agent_loop.resume()
    assert runtime.agent_loop.status().state == "stopped"


async def test_a_tick_spawns_a_loop_task_whose_query_is_the_briefing(runner_runtime: Runtime,
                                                                     llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    runtime.conversations.append("chat", Message(role="user", content="please keep the docs tidy"))
    runtime.agent_loop.set_goals(["tidy docs"])
    llm_env.add(Reply(text="Checked the docs; nothing to do."))
    started = utc_now()
    runtime.agent_loop.play(interval=600)
    state = await async_wait_until(lambda: (s := runtime.agent_loop.status()).invocation_count == 1 and s, timeout=2)
    [record] = loop_tasks(runtime)
    assert state.current_task_id == record.id
    assert (state.last_tick_at - started).total_seconds() < 1.5  # the first tick comes promptly after play
    assert state.next_tick_at == state.last_tick_at + timedelta(seconds=600)
    assert record.tags == ["agent-loop"] and record.conversation == "chat" and record.guarded
    assert record.query.startswith("# Agent loop briefing — invocation 1\n")
    assert "please keep the docs tidy" in record.query and "- tidy docs" in record.query
    await async_wait_until(lambda: runtime.tasks.get(record.id).status == "completed")
    llm_env.wait_for_requests(1)
    assert llm_env.requests[0]["messages"][-1] == {"role": "user", "content": record.query}
    posted = await async_wait_until(
        lambda: [m for m in runtime.conversations.messages("chat") if m.marker == "background-agent"])
    assert [message.content for message in posted] == ["Checked the docs; nothing to do."]
    assert [event["task_id"] for event in events(runtime.paths, "agent-loop:tick")] == [record.id]
    await async_wait_until(lambda: runtime.agent_loop.status().current_task_id is None)


async def test_a_later_tick_comes_when_its_time_is_due(runner_runtime: Runtime, llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    llm_env.respond_with(lambda request: Reply(text="done"))
    runtime.agent_loop.play(interval=600)
    await async_wait_until(lambda: loop_tasks(runtime) and loop_tasks(runtime)[0].finished)
    runtime.agent_loop.tick_if_due()
    assert runtime.agent_loop.status().invocation_count == 1  # not due for another 600 s
    make_due(runtime)
    await async_wait_until(lambda: runtime.agent_loop.status().invocation_count == 2, timeout=3)
    second = [record for record in loop_tasks(runtime) if "invocation 2" in record.query]
    assert len(second) == 1


async def test_only_one_loop_task_runs_at_a_time(runner_runtime: Runtime, llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    llm_env.add(Reply(text="slow", delay=30))
    runtime.agent_loop.play(interval=600)
    [first] = await async_wait_until(lambda: [r for r in loop_tasks(runtime) if r.status == "running"])
    make_due(runtime)
    skipped = await async_wait_until(lambda: events(runtime.paths, "agent-loop:skipped"), timeout=3)
    assert skipped[0]["reason"] == f"the previous loop run {first.id} is still running"
    assert len(loop_tasks(runtime)) == 1 and runtime.agent_loop.status().invocation_count == 1
    runtime.tasks.cancel(first.id)
    await async_wait_until(lambda: runtime.tasks.get(first.id).finished)


async def test_pause_and_stop_let_a_running_tick_finish_but_stop_future_ticks(runner_runtime: Runtime,
                                                                               llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    llm_env.add(Reply(text="finished anyway", delay=0.5))
    runtime.agent_loop.play(interval=600)
    [first] = await async_wait_until(lambda: [r for r in loop_tasks(runtime) if r.status == "running"])
    runtime.agent_loop.pause()
    assert runtime.tasks.get(first.id).status == "running"
    await async_wait_until(lambda: runtime.tasks.get(first.id).status == "completed")
    make_due(runtime)
    runtime.agent_loop.tick_if_due()
    runtime.agent_loop.stop()
    runtime.agent_loop.tick_if_due()
    state = runtime.agent_loop.status()
    assert state.state == "stopped" and state.invocation_count == 1 and len(loop_tasks(runtime)) == 1


async def test_a_new_runner_restores_a_playing_loop_and_ticks_at_once(workspace: WorkspacePaths,
                                                                     llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="resumed"))
    Runtime.open(workspace.root).agent_loop.play(interval=120)  # e.g. the CLI while no runner was up
    runner = Runtime.open(workspace.root)
    runner.activate_runner()
    try:
        state = await async_wait_until(lambda: (s := runner.agent_loop.status()).invocation_count == 1 and s,
                                       timeout=2)
        assert state.state == "playing" and state.interval_seconds == 120
    finally:
        await runner.deactivate_runner("the test finished")


async def test_loop_agent_is_read_only_while_the_person_is_mid_turn(runner_runtime: Runtime,
                                                                    llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("write_file", {"path": "notes.md", "content": "x"})]),
                Reply(text="could not write"))
    with runtime.foreground.turn():
        runtime.agent_loop.play(interval=600)
        [record] = await async_wait_until(lambda: [r for r in loop_tasks(runtime) if r.finished])
    assert "The foreground is busy right now: you have read-only tools" in record.query
    tool_results = [m for m in llm_env.requests[-1]["messages"] if m["role"] == "tool"]
    assert tool_results and tool_results[0]["content"].startswith("Error:")
    assert not (runtime.paths.root / "notes.md").exists()


async def test_a_runner_opens_the_memory_store_only_once_the_loop_plays(runtime: Runtime,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    loop = runtime.agent_loop
    opened: list[bool] = []
    looked: list[float] = []
    monkeypatch.setattr(loop.briefing, "warm_up", lambda: opened.append(True))
    real_tick = loop.tick_if_due
    monkeypatch.setattr(loop, "tick_if_due", lambda: looked.append(real_tick()) or looked[-1])
    runtime.activate_runner()
    try:
        await async_wait_until(lambda: looked)
        assert opened == [], "a stopped loop leaves the memory store closed (an idle TUI holds no vector store)"
        loop.play(interval=600)
        await async_wait_until(lambda: opened == [True])
    finally:
        await runtime.deactivate_runner("the test finished")
