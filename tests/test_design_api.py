"""The task and schedule API of the design, so a model that follows it works: each alias, the events it lists
(task:progress, task:output, loop events with the invocation count and open questions), and loop goals."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from cli_helpers import oboto
from oboto.core.paths import WorkspacePaths
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall, async_wait_until


def events(paths: WorkspacePaths, kind: str) -> list[dict[str, Any]]:
    records = [orjson.loads(line) for line in paths.events.read_bytes().splitlines() if line.strip()]
    return [record for record in records if record["type"] == kind]


async def execute(runtime: Runtime, name: str, arguments: dict[str, Any]):
    return await runtime.tools.execute(name, arguments, runtime.tool_context(conversation="chat"))


async def test_create_recurring_task_accepts_interval_minutes_tags_and_an_agent(runtime: Runtime) -> None:
    result = await execute(runtime, "create_recurring_task", {
        "name": "review", "query": "review the diff", "interval_minutes": 30, "tags": ["ci", "nightly"],
        "agent": "reviewer"})
    assert result.ok, result.content
    (schedule,) = runtime.scheduler.list()
    assert (schedule.interval_seconds, schedule.tags, schedule.agent) == (1800.0, ["ci", "nightly"], "reviewer")
    both = await execute(runtime, "create_recurring_task",
                         {"name": "x", "query": "q", "interval_minutes": 1, "interval_seconds": 60})
    assert not both.ok and "give interval_seconds or interval_minutes, not both" in both.content
    ghost = await execute(runtime, "create_recurring_task", {"name": "x", "query": "q", "interval_minutes": 1,
                                                             "agent": "ghost"})
    assert not ghost.ok and "no agent profile called 'ghost'" in ghost.content


async def test_a_schedules_runs_use_its_agent(runner_runtime: Runtime, llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    llm_env.add(Reply(text="reviewed"))
    schedule = runtime.scheduler.create("review", "review it", interval_seconds=3600, agent="explore")
    outcome = runtime.scheduler.trigger_now(schedule.id)
    record = await async_wait_until(lambda: (r := runtime.tasks.get(outcome.task_id)).finished and r, timeout=60)
    assert record.agent == "explore" and record.status == "completed"
    assert "You are the explore agent" in llm_env.requests[0]["messages"][0]["content"]


async def test_list_recurring_tasks_filters_by_status_and_tag(runtime: Runtime) -> None:
    daily = runtime.scheduler.create("daily", "q", interval_seconds=86400, tags=["ops"])
    runtime.scheduler.create("hourly", "q", interval_seconds=3600, tags=["dev"])
    runtime.scheduler.pause(daily.id)
    paused = await execute(runtime, "list_recurring_tasks", {"status": "paused"})
    assert "daily" in paused.content and "hourly" not in paused.content
    active = await execute(runtime, "list_recurring_tasks", {"status": "active"})
    assert "hourly" in active.content and "daily" not in active.content
    tagged = await execute(runtime, "list_recurring_tasks", {"tag": "ops"})
    assert "daily" in tagged.content and "hourly" not in tagged.content
    none = await execute(runtime, "list_recurring_tasks", {"status": "active", "tag": "ops"})
    assert none.content == "No recurring tasks (active tagged 'ops')."


async def test_list_background_tasks_accepts_all_and_active(runtime: Runtime) -> None:
    kept = runtime.tasks.spawn("kept", "q")
    gone = runtime.tasks.spawn("gone", "q")
    runtime.tasks.cancel(gone.id)
    everything = await execute(runtime, "list_background_tasks", {"status": "all"})
    assert kept.id in everything.content and gone.id in everything.content
    active = await execute(runtime, "list_background_tasks", {"status": "active"})
    assert kept.id in active.content and gone.id not in active.content


def test_wait_for_task_waits_300_seconds_by_default(runtime: Runtime) -> None:
    tool = runtime.tools.get("wait_for_task")
    assert tool.Args.model_validate({"task_id": "t-12345678"}).timeout_seconds == 300


async def test_tasks_publish_progress_and_output_events(runner_runtime: Runtime, llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    (runtime.paths.root / "a.txt").write_text("alpha")
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("read_file", {"path": "a.txt"})], prompt_tokens=50,
                      completion_tokens=5),
                Reply(text="It says alpha.", prompt_tokens=60, completion_tokens=4))
    record = runtime.tasks.spawn("read", "read a.txt")
    await runtime.tasks.wait(record.id, 60)
    progress = [event for event in events(runtime.paths, "task:progress") if event["task_id"] == record.id]
    assert [(event["model_calls"], event["tool_calls"]) for event in progress] == [(1, 0), (1, 1), (2, 1)]
    assert progress[-1]["total_tokens"] == 119
    lines = [event["line"] for event in events(runtime.paths, "task:output") if event["task_id"] == record.id]
    assert lines[0] == "▶ read" and any(line.startswith("→ read_file") for line in lines)
    assert "It says alpha." in lines and lines[-1] == "■ completed"


async def test_loop_events_carry_the_invocation_count_and_open_questions(runner_runtime: Runtime,
                                                                        llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    asking = asyncio.create_task(runtime.questions.ask("which branch?", origin="user"))
    await async_wait_until(runtime.questions.open_questions, timeout=30)
    llm_env.add(Reply(text="looked"))
    runtime.agent_loop.play(interval=600)
    await async_wait_until(lambda: events(runtime.paths, "agent-loop:tick"), timeout=30)
    (tick,) = events(runtime.paths, "agent-loop:tick")
    assert tick["invocation"] == 1 and tick["open_questions"] == 1
    (played,) = events(runtime.paths, "agent-loop:state")
    assert played["invocation_count"] == 0 and played["open_questions"] == 1
    runtime.questions.answer(runtime.questions.open_questions()[0].id, "main")
    assert await asyncio.wait_for(asking, 30) == "main"
    runtime.agent_loop.stop()
    stopped = events(runtime.paths, "agent-loop:state")[-1]
    assert stopped["state"] == "stopped" and stopped["invocation_count"] == 1 and stopped["open_questions"] == 0


def test_schedules_cli_filters_and_edits(workspace) -> None:
    def created(*args: str) -> dict:
        result = oboto(workspace.root, "schedules", "create", *args, "--json")
        assert result.returncode == 0, result.stderr
        return orjson.loads(result.stdout)

    ops = created("--name", "ops", "--query", "q", "--every", "1h", "--tag", "ops")
    created("--name", "dev", "--query", "q", "--every", "2h", "--tag", "dev", "--agent", "reviewer")
    oboto(workspace.root, "schedules", "pause", ops["id"])
    listed = orjson.loads(oboto(workspace.root, "schedules", "list", "--status", "paused", "--json").stdout)
    assert [schedule["name"] for schedule in listed] == ["ops"]
    tagged = orjson.loads(oboto(workspace.root, "schedules", "list", "--tag", "dev", "--json").stdout)
    assert [(schedule["name"], schedule["agent"]) for schedule in tagged] == [("dev", "reviewer")]
    edited = oboto(workspace.root, "schedules", "edit", ops["id"], "--every", "30m", "--query", "new q",
                   "--agent", "explore", "--json")
    assert edited.returncode == 0, edited.stderr
    schedule = orjson.loads(edited.stdout)
    assert (schedule["interval_seconds"], schedule["query"], schedule["agent"]) == (1800.0, "new q", "explore")
    cron = orjson.loads(oboto(workspace.root, "schedules", "edit", ops["id"], "--cron", "0 9 * * 1", "--json").stdout)
    assert cron["cron"] == "0 9 * * 1" and cron["interval_seconds"] is None
    nothing = oboto(workspace.root, "schedules", "edit", ops["id"])
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr
    ghost = oboto(workspace.root, "schedules", "edit", ops["id"], "--agent", "ghost")
    assert ghost.returncode == 2 and "no agent profile called 'ghost'" in ghost.stderr


async def test_goals_set_by_the_tool_reach_the_briefing_and_its_memory_recall(runtime: Runtime) -> None:
    runtime.memory.remember("The deploy script lives in tools/deploy.sh and needs DEPLOY_ENV set.")
    runtime.memory.remember("The team's favourite lunch place is the noodle bar on the corner.")
    result = await execute(runtime, "set_loop_goals", {"goals": ["fix the failing deploy script"]})
    assert result.ok and "- fix the failing deploy script" in result.content
    added = await execute(runtime, "set_loop_goals", {"goals": ["keep CI green"], "append": True})
    assert "- fix the failing deploy script\n- keep CI green" in added.content
    briefing = runtime.agent_loop.next_briefing()
    goals = briefing.split("Goals:\n", 1)[1].split("\n\n", 1)[0]
    assert goals == "- fix the failing deploy script\n- keep CI green"
    memories = briefing.split("Top memories:\n", 1)[1].split("\n\n", 1)[0]
    assert "The deploy script lives in tools/deploy.sh" in memories.splitlines()[0]
    assert events(runtime.paths, "agent-loop:goals")[-1]["goals"] == ["fix the failing deploy script", "keep CI green"]


def test_loop_goals_cli_and_briefing(workspace) -> None:
    assert oboto(workspace.root, "loop", "goals", "set", "ship 1.0", "write docs").stdout == "1. ship 1.0\n2. write docs\n"
    assert oboto(workspace.root, "loop", "goals", "add", "fix CI").stdout.endswith("3. fix CI\n")
    assert orjson.loads(oboto(workspace.root, "loop", "goals", "list", "--json").stdout) == [
        "ship 1.0", "write docs", "fix CI"]
    empty = oboto(workspace.root, "loop", "goals", "add", "  ")
    assert empty.returncode == 2 and "the goal is empty" in empty.stderr
    briefing = oboto(workspace.root, "loop", "briefing").stdout
    assert briefing.startswith("# Agent loop briefing — invocation 1\n")
    assert "- ship 1.0\n- write docs\n- fix CI" in briefing
    assert "- Agent: general — The default agent" in briefing
    assert oboto(workspace.root, "loop", "goals", "clear").stdout == "no goals set\n"


def test_the_loop_persona_is_its_profile(workspace) -> None:
    (workspace.root / ".oboto" / "config.toml").write_text('[loop]\nagent = "reviewer"\n')
    briefing = oboto(workspace.root, "loop", "briefing").stdout
    persona = briefing.split("## Persona\n\n", 1)[1].split("\n## ", 1)[0]
    assert persona.startswith("- Agent: reviewer — Reads and reports")


@pytest.mark.parametrize("leave", [False, True])
def test_oboto_run_runs_the_tasks_its_turn_started_or_says_how(workspace, llm_env: ScriptedLLM, leave: bool) -> None:
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("spawn_background_task", {"description": "side job",
                                                                              "query": "do the side job"})]),
                Reply(text="Started it."))
    if not leave:
        llm_env.add(Reply(text="Side job done."))
    result = oboto(workspace.root, "run", "start a side job", "--json", *(["--leave-tasks"] if leave else []))
    assert result.returncode == 0, result.stderr
    (task_id,) = orjson.loads(result.stdout)["tasks"]
    record = orjson.loads(workspace.task_record(task_id).read_bytes())
    if leave:
        assert record["status"] == "queued" and "wait in the queue: `oboto daemon`" in result.stderr
    else:
        assert record["status"] == "completed" and record["result"] == "Side job done."
        assert f"{task_id} completed: side job" in result.stderr
