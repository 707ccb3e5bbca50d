"""MCP servers: real ones from the package index (mcp-server-time, mcp-server-git) over stdio, a misbehaving one
built with the SDK (slow, crashing, a bad schema) over stdio and streamable HTTP; a broken server never breaks a
turn, its tools are left out and the model is told."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from cli_helpers import oboto
from oboto.agent.turn import TurnObserver
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedToolCall, async_wait_until, wait_until

MISBEHAVING = Path(__file__).with_name("mcp_servers") / "misbehaving.py"
BIN = Path(sys.executable).parent
STARTUP = 120  # generous: a cold Python MCP server takes seconds to start on a loaded machine


def toml_value(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(key)} = {toml_value(item)}" for key, item in value.items()) + " }"
    return json.dumps(value)


def server_table(name: str, **fields: object) -> str:
    lines = [f"[mcp.servers.{name}]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in fields.items()]
    return "\n".join(lines)


def configure(root: Path, *tables: str, allow: list[str] | None = None, startup: float = STARTUP) -> None:
    allow_rules = json.dumps(allow or ["mcp__*"])
    text = "\n\n".join([f"[permissions]\nallow = {allow_rules}",
                        f"[mcp]\nstartup_timeout_seconds = {startup}\ncall_timeout_seconds = 300", *tables])
    (root / ".oboto" / "config.toml").write_text(text + "\n")


def misbehaving(name: str = "bad", *extra: str) -> str:
    return server_table(name, command=sys.executable, args=[str(MISBEHAVING), *extra])


def offered(request: dict) -> dict[str, dict]:
    return {tool["function"]["name"]: tool["function"] for tool in request.get("tools") or []}


def system_text(request: dict) -> str:
    return request["messages"][0]["content"]


def tool_results(request: dict) -> list[str]:
    return [message["content"] for message in request["messages"] if message["role"] == "tool"]


@pytest.fixture
async def opened(workspace, llm_env):
    """Open a Runtime on the configured workspace (after the test wrote its config); MCP servers stopped after."""
    runtimes: list[Runtime] = []

    def open_runtime() -> Runtime:
        runtimes.append(Runtime.open(workspace.root))
        return runtimes[-1]

    yield open_runtime
    for runtime in runtimes:
        await runtime.aclose()


async def test_a_real_servers_tool_is_called_end_to_end_through_a_turn(workspace, llm_env, opened) -> None:
    configure(workspace.root, server_table("time", command=str(BIN / "mcp-server-time")))
    runtime = opened()
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("mcp__time__get_current_time", {"timezone": "Etc/UTC"})]),
                Reply(text="It is now."))
    outcome = await runtime.chat("chat", "what time is it in UTC?")
    assert outcome.ok, outcome.error
    first, second = llm_env.requests
    tool = offered(first)["mcp__time__get_current_time"]
    assert tool["parameters"]["properties"]["timezone"]["type"] == "string"  # the server's own JSON schema
    assert "[MCP server time]" in tool["description"]
    (result,) = tool_results(second)
    assert '"timezone": "Etc/UTC"' in result and '"datetime"' in result
    audit = [orjson.loads(line) for line in workspace.audit.read_text().splitlines()]
    assert audit[-1]["tool"] == "mcp__time__get_current_time" and audit[-1]["tier"] == "exec"


async def test_mcp_tools_are_exec_and_ask_in_the_default_mode(workspace, llm_env, opened) -> None:
    (workspace.root / ".oboto" / "config.toml").write_text(
        server_table("time", command=str(BIN / "mcp-server-time")) + f"\n[mcp]\nstartup_timeout_seconds = {STARTUP}\n")
    runtime = opened()
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("mcp__time__get_current_time", {"timezone": "Etc/UTC"})]),
                Reply(text="I could not."))
    await runtime.chat("chat", "time?")
    (result,) = tool_results(llm_env.requests[1])
    assert result.startswith("Error:") and "needs approval (mode auto-edit)" in result and '"datetime"' not in result


async def test_mcp_server_git_lists_and_runs_its_tools_on_a_repository(workspace, llm_env, opened) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(workspace.root)], check=True)
    configure(workspace.root, server_table("git", command=str(BIN / "mcp-server-git"),
                                           args=["--repository", str(workspace.root)], tools=["git_status", "git_log"]))
    runtime = opened()
    (status,) = await runtime.mcp.statuses(start=True)
    assert status.state == "ready" and sorted(status.tools) == ["git_log", "git_status"]
    assert any(line.startswith("git_diff: not in [mcp.servers.git] tools") for line in status.skipped_tools)
    result = await runtime.mcp.call_tool("git", "git_status", {"repo_path": str(workspace.root)})
    assert not result.is_error and "branch" in result.text.lower()


async def test_a_tool_with_a_bad_schema_is_left_out_and_the_model_is_told(workspace, llm_env, opened) -> None:
    configure(workspace.root, misbehaving())
    runtime = opened()
    llm_env.add(Reply(text="ok"))
    await runtime.chat("chat", "hello")
    (request,) = llm_env.requests
    assert "mcp__bad__echo" in offered(request) and "mcp__bad__broken_schema" not in offered(request)
    assert "the MCP tool mcp__bad__broken_schema is left out: its input schema is not valid JSON Schema" \
        in system_text(request)


async def test_arguments_are_checked_against_the_servers_schema(workspace, llm_env, opened) -> None:
    configure(workspace.root, misbehaving())
    runtime = opened()
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("mcp__bad__echo", {"txt": "hi"})]), Reply(text="ok"))
    await runtime.chat("chat", "echo")
    (result,) = tool_results(llm_env.requests[1])
    assert result.startswith("Error: invalid arguments for mcp__bad__echo") and "'text' is a required property" in result


async def test_a_crashing_server_is_restarted_once_then_left_out(workspace, llm_env, opened) -> None:
    configure(workspace.root, misbehaving())
    runtime = opened()
    crash = ScriptedToolCall("mcp__bad__crash", {})
    llm_env.add(Reply(tool_calls=[crash]), Reply(tool_calls=[ScriptedToolCall("mcp__bad__echo", {"text": "back"})]),
                Reply(tool_calls=[crash]), Reply(text="done"))
    outcome = await runtime.chat("chat", "crash it")
    assert outcome.ok
    results = tool_results(llm_env.requests[-1])
    assert "the MCP server bad stopped while running crash" in results[0] and "restarted for the next call" in results[0]
    assert results[1] == "echo: back"  # the restarted server answers
    assert "restarted once already, so it stays off" in results[2]
    llm_env.add(Reply(text="fine"))
    outcome = await runtime.chat("chat", "again")
    assert outcome.ok  # the turn goes on without the server
    request = llm_env.requests[-1]
    assert not [name for name in offered(request) if name.startswith("mcp__bad__")]
    assert "MCP server bad is not available" in system_text(request)


async def test_a_slow_tool_is_cancelled_with_the_turn_and_the_server_goes_on(workspace, llm_env, opened) -> None:
    configure(workspace.root, misbehaving())
    runtime = opened()
    started = asyncio.Event()

    class Watch(TurnObserver):
        def tool_started(self, call) -> None:
            started.set()

    llm_env.add(Reply(tool_calls=[ScriptedToolCall("mcp__bad__slow", {})]))
    turn = asyncio.create_task(runtime.chat("chat", "be slow", observer=Watch()))
    await asyncio.wait_for(started.wait(), STARTUP)
    turn.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(turn, 60)
    assert runtime.conversations.messages("chat")[-1].content == "The reply was cancelled."
    assert (await runtime.mcp.call_tool("bad", "echo", {"text": "still here"})).text == "echo: still here"


async def test_a_server_that_does_not_start_in_time_costs_only_its_tools(workspace, llm_env, opened) -> None:
    configure(workspace.root, misbehaving("sleepy", "--slow-start", "600"),
              server_table("time", command=str(BIN / "mcp-server-time")), startup=8)
    runtime = opened()
    llm_env.add(Reply(text="hi"))
    outcome = await runtime.chat("chat", "hello")
    assert outcome.ok
    (request,) = llm_env.requests
    if "mcp__time__get_current_time" not in offered(request):
        pytest.skip("the machine is too loaded for mcp-server-time to start within 8 s")
    assert "MCP server sleepy is not available (did not start within 8 s" in system_text(request)


async def test_a_missing_program_is_reported_in_plain_words(workspace, llm_env, opened) -> None:
    configure(workspace.root, server_table("ghost", command="no-such-mcp-server-here"),
              '[mcp.servers.Bad]\ncommand = "x"', server_table("both", command="x", url="http://127.0.0.1:1/mcp"))
    runtime = opened()
    statuses = {status.name: status for status in await runtime.mcp.statuses(start=True)}
    assert statuses["ghost"].state == "failed"
    assert statuses["ghost"].error == ("the program 'no-such-mcp-server-here' was not found; check `command` in "
                                       "[mcp.servers.ghost]")
    assert "is not allowed" in statuses["Bad"].error
    assert "give either command" in statuses["both"].error
    llm_env.add(Reply(text="hi"))
    assert (await runtime.chat("chat", "hello")).ok


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def http_server():
    port = free_port()
    process = subprocess.Popen([sys.executable, str(MISBEHAVING), "--http", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answers() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(answers, timeout=STARTUP, interval=0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_a_server_over_streamable_http_is_called_through_a_turn(workspace, llm_env, opened, http_server) -> None:
    configure(workspace.root, server_table("web", url=http_server, headers={"X-Test": "1"}))
    runtime = opened()
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("mcp__web__echo", {"text": "over http"})]), Reply(text="ok"))
    assert (await runtime.chat("chat", "echo over http")).ok
    assert tool_results(llm_env.requests[1]) == ["echo: over http"]


async def test_servers_are_stopped_on_close(workspace, llm_env, opened) -> None:
    configure(workspace.root, misbehaving())
    runtime = opened()
    await runtime.mcp.statuses(start=True)
    assert runtime.mcp.servers["bad"].state == "ready"
    await runtime.aclose()
    assert runtime.mcp.servers["bad"].state == "stopped"
    await async_wait_until(lambda: runtime.mcp.servers["bad"]._serving is None, timeout=30)


def test_oboto_mcp_list_shows_servers_state_and_tools(workspace) -> None:
    configure(workspace.root, misbehaving(), server_table("ghost", command="no-such-mcp-server-here"),
              server_table("off", command="x", enabled=False))
    result = oboto(workspace.root, "mcp", "list", "--json", timeout=STARTUP)
    assert result.returncode == 0, result.stderr
    servers = {server["name"]: server for server in orjson.loads(result.stdout)}
    assert servers["bad"]["state"] == "ready" and "echo" in servers["bad"]["tools"]
    assert any(line.startswith("broken_schema: its input schema is not valid") for line in servers["bad"]["skipped_tools"])
    assert servers["ghost"]["state"] == "failed" and "was not found" in servers["ghost"]["error"]
    assert servers["off"]["state"] == "disabled"
    text = oboto(workspace.root, "mcp", "list", timeout=STARTUP)
    assert "ghost" in text.stdout and "was not found" in text.stdout


def test_doctor_reports_a_broken_mcp_server_in_plain_words(workspace) -> None:
    configure(workspace.root, server_table("ghost", command="no-such-mcp-server-here"))
    result = oboto(workspace.root, "doctor", "--json", timeout=STARTUP)
    checks = {check["check"]: check for check in orjson.loads(result.stdout)}
    assert checks["mcp ghost"]["ok"] is False
    assert "the program 'no-such-mcp-server-here' was not found" in checks["mcp ghost"]["detail"]
