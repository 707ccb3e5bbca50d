"""run_command, driven through ToolRegistry.execute: results, limits, process-group cleanup and refusals."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import pytest

from oboto.agent.approvals import CallControl
from oboto.agent.tools import shell_tools
from oboto.agent.tools.base import ToolContext, ToolRegistry, ToolResult
from oboto.core.config import Settings
from oboto.core.paths import WorkspacePaths
from oboto.core.permissions import PermissionPolicy
from oboto.testing import async_wait_until

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(not os.path.isdir("/proc"), reason="process checks read /proc"),
]


@pytest.fixture
def ctx(workspace: WorkspacePaths, settings: Settings) -> ToolContext:
    """Mode full: these tests are about the command's execution, not about asking first (test_control_gate)."""
    return ToolContext(paths=workspace, settings=settings, control=CallControl(PermissionPolicy("full")))


async def run(ctx: ToolContext, arguments: dict[str, Any] | str) -> ToolResult:
    return await ToolRegistry(shell_tools()).execute("run_command", arguments, ctx)


def is_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def running_pids_in_group(pgid: int) -> list[int]:
    """Processes of group `pgid` that still run (zombies are dead, only not yet reaped)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            pids.append(int(entry))
    return pids


async def test_command_output_and_exit_code(ctx: ToolContext) -> None:
    result = await run(ctx, {"command": "echo out; echo err >&2; exit 3"})
    assert result.ok
    assert result.content == "[exit code 3]\nout\nerr\n"
    assert result.data == {"exit_code": 3, "timed_out": False, "output_bytes": 8, "output_truncated": False}


async def test_runs_in_the_workspace_and_in_cwd(ctx: ToolContext, workspace: WorkspacePaths) -> None:
    (workspace.root / "sub").mkdir()
    assert (await run(ctx, {"command": "pwd"})).content == f"[exit code 0]\n{workspace.root}\n"
    assert (await run(ctx, {"command": "pwd", "cwd": "sub"})).content == f"[exit code 0]\n{workspace.root / 'sub'}\n"


async def test_cwd_outside_the_workspace_is_refused(ctx: ToolContext) -> None:
    result = await run(ctx, {"command": "pwd", "cwd": ".."})
    assert not result.ok
    assert "'..' would leave the workspace" in result.content


async def test_stdin_is_empty(ctx: ToolContext) -> None:
    result = await run(ctx, {"command": "cat; echo done", "timeout_seconds": 5})
    assert result.content == "[exit code 0]\ndone\n"


async def test_api_keys_are_not_passed_to_commands(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_API_KEY", "sk-secret")
    monkeypatch.setenv("EXAMPLE_SETTING", "visible")
    monkeypatch.setenv("EXAMPLE_UNLISTED", "hidden")
    ctx.settings.shell.pass_env = ["EXAMPLE_SETTING"]
    result = await run(ctx, {"command": 'echo "[$EXAMPLE_API_KEY][$EXAMPLE_SETTING][$EXAMPLE_UNLISTED]"'})
    assert result.content == "[exit code 0]\n[][visible][]\n"


async def test_timeout_kills_the_whole_process_group(ctx: ToolContext) -> None:
    result = await run(ctx, {"command": "echo $$; sleep 30 & echo $!; sleep 30", "timeout_seconds": 0.5})
    assert not result.ok
    assert result.content.startswith("[timed out after 0.5 s")
    assert result.data and result.data["timed_out"] is True
    shell_pid, child_pid = (int(pid) for pid in re.findall(r"^\d+$", result.content, re.MULTILINE))
    assert not is_running(shell_pid)
    assert not is_running(child_pid)
    assert running_pids_in_group(shell_pid) == []


async def test_default_timeout_comes_from_settings(ctx: ToolContext) -> None:
    ctx.settings.shell.timeout_seconds = 0.3
    result = await run(ctx, {"command": "sleep 30"})
    assert result.content.startswith("[timed out after 0.3 s")


async def test_background_processes_left_running_are_stopped(ctx: ToolContext) -> None:
    result = await run(ctx, {"command": "sleep 30 & echo $$", "timeout_seconds": 10})
    assert result.ok
    assert "exit code 0; it left background processes running, and they were stopped" in result.content
    assert running_pids_in_group(int(result.content.splitlines()[1])) == []


async def test_output_is_capped_keeping_head_and_tail(ctx: ToolContext) -> None:
    ctx.settings.shell.max_output_bytes = 1000
    result = await run(ctx, {"command": "seq 1 100000"})
    output = result.content.removeprefix("[exit code 0]\n")
    assert output.startswith("1\n2\n3\n")
    assert output.endswith("99999\n100000\n")
    omitted = int(re.search(r"\[… (\d+) bytes omitted …\]", output).group(1))  # type: ignore[union-attr]
    assert result.data and result.data["output_bytes"] == omitted + 1000
    assert result.data["output_truncated"] is True
    assert len(output.encode()) < 1100


async def test_cancellation_kills_the_process_group_first(ctx: ToolContext, workspace: WorkspacePaths) -> None:
    pid_file = workspace.root / "pid"
    call = asyncio.create_task(run(ctx, {"command": "echo $$ > pid; sleep 30 & sleep 30", "timeout_seconds": 60}))
    shell_pid = int(await async_wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=5))
    await async_wait_until(lambda: len(running_pids_in_group(shell_pid)) == 3, timeout=5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert running_pids_in_group(shell_pid) == []


async def test_disabled_shell_is_refused_and_not_offered(ctx: ToolContext) -> None:
    ctx.settings.shell.enabled = False
    result = await run(ctx, {"command": "echo hi"})
    assert result.content == (
        "Error: run_command is disabled in this workspace (set shell.enabled = true in .oboto/config.toml)"
    )
    assert ToolRegistry(shell_tools()).schemas(ctx) == []


async def test_background_agents_are_refused_unless_allowed(workspace: WorkspacePaths, settings: Settings) -> None:
    background = ToolContext(paths=workspace, settings=settings, background=True,
                             control=CallControl(PermissionPolicy("full")))
    result = await run(background, {"command": "echo hi"})
    assert result.content == (
        "Error: run_command is off for background agents "
        "(set shell.allow_background = true in .oboto/config.toml to allow it)"
    )
    assert ToolRegistry(shell_tools()).schemas(background) == []
    settings.shell.allow_background = True
    assert (await run(background, {"command": "echo hi"})).content == "[exit code 0]\nhi\n"


async def test_read_only_context_refuses_commands(workspace: WorkspacePaths, settings: Settings) -> None:
    read_only = ToolContext(paths=workspace, settings=settings, read_only=True)
    result = await run(read_only, {"command": "touch made"})
    assert not result.ok
    assert "read-only" in result.content
    assert not (workspace.root / "made").exists()


async def test_bad_arguments_are_refused(ctx: ToolContext) -> None:
    too_long = await run(ctx, {"command": "true", "timeout_seconds": 3601})
    assert not too_long.ok and "timeout_seconds" in too_long.content
    unknown = await run(ctx, {"command": "true", "shell": "bash"})
    assert not unknown.ok and "Extra inputs" in unknown.content
    wrong_type = await run(ctx, '{"command": ["echo", "hi"]}')
    assert not wrong_type.ok and "command" in wrong_type.content
