"""Finding 4 replayed: processes a command starts in the background — setsid, nohup, a double fork — used to
outlive the call. Now every descendant ends with it: on exit, timeout, cancel, and when oboto itself dies."""

from __future__ import annotations

import asyncio
import signal

import pytest

from attack_helpers import FULL_MODE, linux_only, processes_running, run_command
from cli_helpers import oboto, oboto_process
from oboto.agent.tools.base import ToolContext, ToolRegistry
from oboto.core.paths import WorkspacePaths
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall, async_wait_until, wait_until

pytestmark = [linux_only, pytest.mark.usefixtures("leftover_sleeps")]

ESCAPES = {
    "setsid": "setsid sleep 987 &",
    "nohup": "nohup sleep 988 > /dev/null 2>&1 &",
    "double fork": "( ( sleep 989 & ) & )",
    "setsid with its own redirections": "setsid sh -c 'sleep 990 > /dev/null 2>&1 &'",
}


def running_sleeps() -> dict[str, list[int]]:
    durations = ("987", "988", "989", "990")
    return {duration: pids for duration in durations if (pids := processes_running("sleep", duration))}


@pytest.mark.parametrize("sandbox", ["auto", "off"])
@pytest.mark.parametrize("escape", list(ESCAPES))
async def test_no_descendant_survives_the_call(
    registry: ToolRegistry, ctx: ToolContext, escape: str, sandbox: str
) -> None:
    ctx.settings.shell.sandbox = sandbox
    result = await run_command(registry, ctx, f"{ESCAPES[escape]}\necho started")
    assert result.ok and "started" in result.content
    assert "it left background processes running, and they were stopped" in result.content
    assert running_sleeps() == {}


async def test_all_escapes_at_once_end_on_timeout(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = await run_command(registry, ctx, "\n".join([*ESCAPES.values(), "sleep 30"]), timeout_seconds=1)
    assert result.content.startswith("[timed out after 1 s: the command and every process it started were stopped]")
    assert running_sleeps() == {}


async def test_all_escapes_end_when_the_call_is_cancelled(registry: ToolRegistry, ctx: ToolContext) -> None:
    command = "\n".join([*ESCAPES.values(), "sleep 30"])
    call = asyncio.create_task(run_command(registry, ctx, command, timeout_seconds=60))
    await async_wait_until(lambda: len(running_sleeps()) == 4, timeout=10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert running_sleeps() == {}


async def test_processes_that_finish_on_their_own_are_not_reported(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = await run_command(registry, ctx, "(sleep 0.1; echo late) & echo early")
    assert result.content == "[exit code 0]\nearly\nlate\n"


def test_oboto_run_leaves_no_process_behind(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    llm_env.add(
        Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "setsid sleep 987 & nohup sleep 988 &"})]),
        Reply(text="Started two sleepers."),
    )
    result = oboto(workspace.root, "run", "start something in the background", env=FULL_MODE)
    assert result.returncode == 0, result.stderr
    assert running_sleeps() == {}


def test_when_oboto_is_killed_its_commands_die_too(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    llm_env.add(
        Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "setsid sleep 987 & sleep 988",
                                                           "timeout_seconds": 600})]),
        Reply(text="done"),
    )
    process = oboto_process(workspace.root, "run", "wait a long time", env=FULL_MODE)
    try:
        wait_until(lambda: set(running_sleeps()) == {"987", "988"}, timeout=180)  # after a cold litellm import
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    wait_until(lambda: running_sleeps() == {}, timeout=10)
