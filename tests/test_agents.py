"""Agents at work: a task under a profile (its tools, its model, its mode), call_agent, continue_task, per-profile
concurrency, a conversation's agent, the project's instructions in the prompt, and `oboto agents`."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from cli_helpers import oboto
from oboto.agent.profiles import ProfileLibrary
from oboto.core.paths import WorkspacePaths, user_config_dir
from oboto.services.runtime import Runtime
from oboto.services.tasks import TaskError
from runtime_helpers import runner
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall, async_wait_until

SCOUT = """---
name: scout
description: Looks around.
model: openai/scout-model
tools: [read_file, list_files]
max_iterations: 5
---
You are the scout. Report what you see.
"""


def write_profile(workspace: WorkspacePaths, name: str, text: str) -> None:
    workspace.agents_dir.mkdir(parents=True, exist_ok=True)
    (workspace.agents_dir / f"{name}.md").write_text(text)


def offered(request: dict) -> set[str]:
    return {tool["function"]["name"] for tool in request.get("tools") or []}


def tool_results(request: dict) -> list[str]:
    return [message["content"] for message in request["messages"] if message["role"] == "tool"]


async def test_a_task_under_a_profile_gets_only_its_tools_its_prompt_and_its_model(workspace, llm_env) -> None:
    write_profile(workspace, "scout", SCOUT)
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("write_file", {"path": "x.txt", "content": "no"})]),
                Reply(text="Seen."))
    async with runner(workspace) as runtime:
        record = runtime.tasks.spawn("look", "look around", agent="scout")
        done = await runtime.tasks.wait(record.id, 60)
    assert done.status == "completed" and done.agent == "scout" and done.max_iterations == 5
    first, second = llm_env.requests
    assert first["model"] == "scout-model"
    assert offered(first) == {"read_file", "list_files"}
    assert "Agent: scout (Looks around.)" in first["messages"][0]["content"]
    assert "You are the scout. Report what you see." in first["messages"][0]["content"]
    (refused,) = tool_results(second)
    assert refused == "Error: write_file is not available here: it is not one of the tools of the scout agent"
    assert not (workspace.root / "x.txt").exists()


async def test_spawn_with_a_model_overrides_the_profiles_model(workspace, llm_env) -> None:
    write_profile(workspace, "scout", SCOUT)
    llm_env.add(Reply(text="ok"))
    async with runner(workspace) as runtime:
        record = runtime.tasks.spawn("look", "look", agent="scout", model="openai/override-model")
        await runtime.tasks.wait(record.id, 60)
    assert llm_env.requests[0]["model"] == "override-model"


async def test_an_unknown_agent_is_refused_at_spawn(workspace, llm_env) -> None:
    runtime = Runtime.open(workspace.root)
    with pytest.raises(Exception, match="no agent profile called 'ghost'"):
        runtime.tasks.spawn("x", "y", agent="ghost")
    assert runtime.tasks.list() == []


async def test_the_spawn_tool_takes_agent_and_model_and_says_when_no_runner_is_active(workspace, llm_env) -> None:
    write_profile(workspace, "scout", SCOUT)
    runtime = Runtime.open(workspace.root)
    ctx = runtime.tool_context(conversation="chat")
    result = await runtime.tools.execute(
        "spawn_background_task", {"description": "d", "query": "q", "agent": "scout", "model": "openai/m2"}, ctx)
    assert result.ok and "No runner is active on this workspace" in result.content
    (record,) = runtime.tasks.list()
    assert (record.agent, record.model) == ("scout", "openai/m2")


def test_a_profile_mode_is_the_stricter_unless_the_person_lets_profiles_loosen(workspace) -> None:
    runtime = Runtime.open(workspace.root)
    library = ProfileLibrary([])
    explore = library.get("explore")  # read-only
    loose = explore.model_copy(update={"permission_mode": "full"})
    assert runtime.mode_under("auto-edit", explore) == "read-only"
    assert runtime.mode_under("auto-edit", loose) == "auto-edit"
    assert runtime.mode_under("ask", library.get("general")) == "ask"
    trusting = Runtime.open(workspace.root, permissions={"profiles_may_loosen": True})
    assert trusting.mode_under("auto-edit", loose) == "full"
    ctx = runtime.tool_context(task_id="t-12345678", background=True, profile=explore)
    assert ctx.control.policy.mode == "read-only"


async def test_call_agent_runs_a_sub_agent_and_returns_its_answer_in_the_same_turn(workspace, llm_env) -> None:
    runtime = Runtime.open(workspace.root)
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("call_agent", {"agent": "explore", "prompt": "where is main?"})]),
                Reply(text="main is in app.py, line 3."), Reply(text="It is in app.py."))
    outcome = await runtime.chat("chat", "find main")
    assert outcome.ok and outcome.final_text == "It is in app.py."
    caller, sub, final = llm_env.requests
    assert "call_agent" in offered(caller)
    assert offered(sub) == {"read_file", "list_files", "search_files", "recall"}
    assert "You are the explore agent" in sub["messages"][0]["content"]
    assert sub["messages"][1] == {"role": "user", "content": "where is main?"}
    assert tool_results(final) == ["main is in app.py, line 3."]
    stats = runtime.agent_stats.all()["explore"]
    assert (stats.runs, stats.calls, stats.last_status) == (1, 1, "completed") and stats.prompt_tokens > 0


async def test_call_agent_is_cancelled_with_its_caller(workspace, llm_env) -> None:
    runtime = Runtime.open(workspace.root)
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("call_agent", {"agent": "explore", "prompt": "take forever"})]),
                Reply(fault="slow", delay=600))
    turn = asyncio.create_task(runtime.chat("chat", "go"))
    await asyncio.to_thread(llm_env.wait_for_requests, 2, 60)
    turn.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(turn, 60)
    assert runtime.agent_stats.all()["explore"].last_status == "cancelled"
    assert runtime.conversations.messages("chat")[-1].content == "The reply was cancelled."


async def test_call_agent_never_goes_deeper_than_the_spawn_depth(workspace, llm_env) -> None:
    runtime = Runtime.open(workspace.root, tasks={"max_depth": 1})
    ctx = runtime.tool_context(conversation="chat", depth=1)
    result = await runtime.tools.execute("call_agent", {"agent": "explore", "prompt": "x"}, ctx)
    assert result.content == "Error: agents may only be nested 1 deep (tasks and calls together); do this work yourself"


async def test_continue_task_goes_on_with_the_tasks_own_history(workspace, llm_env) -> None:
    llm_env.add(Reply(text="The first answer."), Reply(text="The follow-up answer."))
    async with runner(workspace) as runtime:
        record = runtime.tasks.spawn("research", "find the config keys")
        await runtime.tasks.wait(record.id, 60)
        with pytest.raises(TaskError, match="a follow-up needs a prompt"):
            runtime.tasks.continue_task(record.id, "  ")
        ctx = runtime.tool_context(conversation="chat")
        result = await runtime.tools.execute("continue_task", {"task_id": record.id, "prompt": "now the defaults"}, ctx)
        assert result.ok and f"Continuing {record.id}" in result.content
        done = await runtime.tasks.wait(record.id, 60)
    assert done.id == record.id and done.status == "completed" and done.result == "The follow-up answer."
    assert done.runs == 2 and done.follow_ups == ["now the defaults"] and done.iterations == 2
    messages = [(message["role"], message["content"]) for message in llm_env.requests[1]["messages"][1:]]
    assert messages == [("user", "find the config keys"), ("assistant", "The first answer."),
                        ("user", "now the defaults")]
    assert "follow-up: now the defaults" in runtime.tasks.output(record.id).text


async def test_continue_task_is_refused_while_the_task_runs_or_when_it_never_ran(workspace, llm_env) -> None:
    runtime = Runtime.open(workspace.root)
    queued = runtime.tasks.spawn("later", "later")
    with pytest.raises(TaskError, match="is still queued"):
        runtime.tasks.continue_task(queued.id, "more")
    runtime.tasks.cancel(queued.id)
    with pytest.raises(TaskError, match="has no history to continue"):
        runtime.tasks.continue_task(queued.id, "more")


async def test_a_profiles_max_concurrent_holds_while_other_agents_run(workspace, llm_env: ScriptedLLM) -> None:
    write_profile(workspace, "solo", "---\ndescription: one at a time\nmax_concurrent: 1\n---\nWork alone.\n")
    llm_env.respond_with(lambda request: Reply(text="done", delay=0.3))
    async with runner(workspace, tasks={"max_concurrent": 4}) as runtime:
        solos = [runtime.tasks.spawn(f"solo {index}", "work", agent="solo").id for index in range(3)]
        general = runtime.tasks.spawn("general", "work").id
        peak = {"solo": 0, "together": False}

        def all_done() -> bool:
            records = {record.id: record for record in runtime.tasks.list()}
            running = [task_id for task_id in solos if records[task_id].status == "running"]
            peak["solo"] = max(peak["solo"], len(running))
            peak["together"] = peak["together"] or (running and records[general].status == "running")
            return all(records[task_id].finished for task_id in [*solos, general])

        await async_wait_until(all_done, timeout=120, interval=0.01)
    assert peak["solo"] == 1
    assert all(runtime.tasks.get(task_id).status == "completed" for task_id in solos)
    started = sorted(solos, key=lambda task_id: runtime.tasks.get(task_id).started_at)
    assert started == solos  # FIFO within the profile


async def test_a_conversations_agent_answers_in_it(workspace, llm_env) -> None:
    runtime = Runtime.open(workspace.root)
    runtime.conversations.create("look", agent="explore")
    llm_env.add(Reply(text="seen"))
    await runtime.chat("look", "what is here?")
    (request,) = llm_env.requests
    assert offered(request) == {"read_file", "list_files", "search_files", "recall"}
    assert runtime.tool_context(profile=runtime.conversation_profile("look")).control.policy.mode == "read-only"


async def test_agents_md_reaches_every_agents_system_prompt(workspace, llm_env) -> None:
    (workspace.root / "AGENTS.md").write_text("Always run `make check` before you finish.\n")
    (workspace.root / "CLAUDE.md").write_text("Claude-only notes.\n")
    user_config_dir().mkdir(parents=True, exist_ok=True)
    (user_config_dir() / "AGENTS.md").write_text("Answer in British English.\n")
    llm_env.add(Reply(text="ok"), Reply(text="task ok"))
    async with runner(workspace) as runtime:
        await runtime.chat("chat", "hi")
        record = runtime.tasks.spawn("t", "q", agent="explore")
        await runtime.tasks.wait(record.id, 60)
    for request in llm_env.requests:
        system = request["messages"][0]["content"]
        assert "## Instructions from AGENTS.md (the project's instructions)" in system
        assert "Always run `make check` before you finish." in system
        assert "Answer in British English." in system and "Claude-only notes." not in system


async def test_claude_md_is_read_when_there_is_no_agents_md_and_a_long_one_is_cut(workspace, llm_env) -> None:
    (workspace.root / "CLAUDE.md").write_text("Start.\n" + "x" * 5000 + "\nTHE END\n")
    runtime = Runtime.open(workspace.root, agent={"instructions_max_chars": 1000})
    llm_env.add(Reply(text="ok"))
    await runtime.chat("chat", "hi")
    system = llm_env.requests[0]["messages"][0]["content"]
    assert "## Instructions from CLAUDE.md" in system and "Start." in system and "THE END" not in system
    assert "[cut: only the first 1000 characters of this file are shown" in system


def test_oboto_agents_list_show_and_status(workspace) -> None:
    write_profile(workspace, "scout", SCOUT)
    write_profile(workspace, "broken", "not a profile\n")
    listed = oboto(workspace.root, "agents", "list", "--json")
    assert listed.returncode == 0
    names = {agent["name"]: agent for agent in orjson.loads(listed.stdout)}
    assert {"explore", "general", "reviewer", "scout"} <= set(names)
    assert names["scout"]["source"] == str(workspace.agents_dir / "scout.md") and names["explore"]["source"] == "shipped"
    assert "agent profile skipped:" in listed.stderr and "broken.md" in listed.stderr
    shown = oboto(workspace.root, "agents", "show", "scout")
    assert "tools:           read_file, list_files" in shown.stdout and "You are the scout." in shown.stdout
    missing = oboto(workspace.root, "agents", "show", "ghost")
    assert missing.returncode == 2 and "no agent profile called 'ghost'" in missing.stderr
    status = orjson.loads(oboto(workspace.root, "agents", "status", "--json").stdout)
    assert {row["agent"]: row["runs"] for row in status}["scout"] == 0


async def test_agents_status_counts_runs_failures_tokens_and_cost(workspace, llm_env) -> None:
    write_profile(workspace, "scout", SCOUT)
    llm_env.add(Reply(text="fine", prompt_tokens=100, completion_tokens=20), Reply(fault="401"))
    async with runner(workspace) as runtime:
        for name in ("good", "bad"):
            record = runtime.tasks.spawn(name, name, agent="scout")
            await runtime.tasks.wait(record.id, 60)
        runtime.tasks.cancel(runtime.tasks.spawn("never", "never", agent="scout").id)
    result = oboto(workspace.root, "agents", "status", "--json")
    scout = next(row for row in orjson.loads(result.stdout) if row["agent"] == "scout")
    assert (scout["runs"], scout["failures"], scout["task_runs"], scout["last_status"]) == (2, 1, 2, "failed")
    assert scout["prompt_tokens"] >= 100 and scout["completion_tokens"] >= 20


def test_cli_spawn_continue_and_conversation_agent(workspace) -> None:
    write_profile(workspace, "scout", SCOUT)
    spawned = oboto(workspace.root, "tasks", "spawn", "look", "--query", "q", "--agent", "scout", "--model", "openai/x",
                    "--json")
    assert spawned.returncode == 0, spawned.stderr
    record = orjson.loads(spawned.stdout)
    assert (record["agent"], record["model"]) == ("scout", "openai/x")
    bad = oboto(workspace.root, "tasks", "spawn", "look", "--query", "q", "--agent", "ghost")
    assert bad.returncode == 2 and "no agent profile called 'ghost'" in bad.stderr
    early = oboto(workspace.root, "tasks", "continue", record["id"], "more")
    assert early.returncode == 2 and "is still queued" in early.stderr
    created = oboto(workspace.root, "conversations", "create", "side", "--agent", "reviewer")
    assert created.returncode == 0 and "agent reviewer" in created.stdout
    assert "side: agent explore" in oboto(workspace.root, "conversations", "agent", "side", "explore").stdout
    refused = oboto(workspace.root, "conversations", "create", "other", "--agent", "ghost")
    assert refused.returncode == 2 and "no agent profile called 'ghost'" in refused.stderr
