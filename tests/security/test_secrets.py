"""Finding 1 replayed: a command reads oboto's secrets from its environment or from /proc — and gets none of them,
neither in its output, nor in `.oboto/`, nor in what the model is sent."""

from __future__ import annotations

import os
import sys

import orjson
import pytest

from attack_helpers import FULL_MODE, SECRETS, files_under, linux_only, run_command, secrets_found_in
from cli_helpers import oboto
from oboto.agent.sandbox.environment import command_environment
from oboto.agent.tools import file_tools
from oboto.agent.tools.base import ToolContext, ToolRegistry
from oboto.core.paths import WorkspacePaths
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall

pytestmark = [linux_only, pytest.mark.usefixtures("secrets_in_environment")]

PARENT_ENVIRON = r"tr '\0' '\n' < /proc/$PPID/environ"
OBOTO_ENVIRON = r"tr '\0' '\n' < /proc/$(cut -d' ' -f4 /proc/$PPID/stat)/environ"
"""The launcher is the command's parent; its parent is oboto."""


async def test_env_shows_no_secret(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = await run_command(registry, ctx, "env")
    assert result.ok and "PATH=" in result.content
    assert secrets_found_in(result.content) == []
    assert not any(name in result.content for name in SECRETS)


def test_the_environment_is_an_allowlist() -> None:
    environ = {"PATH": "/usr/bin", "HOME": "/home/p", "LC_ALL": "C.UTF-8", "VIRTUAL_ENV": "/p/.venv",
               "DISPLAY": ":0", "SSH_AUTH_SOCK": "/tmp/agent", "TMPDIR": "/var/tmp", **SECRETS}
    assert command_environment(environ) == {"PATH": "/usr/bin", "HOME": "/home/p", "LC_ALL": "C.UTF-8",
                                            "VIRTUAL_ENV": "/p/.venv"}
    assert command_environment(environ, ["DISPLAY"])["DISPLAY"] == ":0"
    assert command_environment({})["PATH"] == os.defpath


async def test_the_parent_environ_cannot_be_read(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = await run_command(registry, ctx, PARENT_ENVIRON)
    assert "Permission denied" in result.content
    assert secrets_found_in(result.content) == []


async def test_obotos_own_environ_cannot_be_read(registry: ToolRegistry, ctx: ToolContext) -> None:
    """Here the process running the tool is oboto: the exact pid, not found through /proc/$PPID."""
    result = await run_command(registry, ctx, f"cat /proc/{os.getpid()}/environ")
    assert f"cat: /proc/{os.getpid()}/environ: Permission denied" in result.content
    assert secrets_found_in(result.content) == []


async def test_oboto_cannot_be_ptraced(registry: ToolRegistry, ctx: ToolContext) -> None:
    attach = (f"{sys.executable} -c 'import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
              f"print(libc.ptrace(16, {os.getpid()}, 0, 0), os.strerror(ctypes.get_errno()))'")
    result = await run_command(registry, ctx, attach)
    assert "-1 Operation not permitted" in result.content


async def test_with_the_sandbox_off_the_environment_is_still_clean(registry: ToolRegistry, ctx: ToolContext) -> None:
    ctx.settings.shell.sandbox = "off"
    result = await run_command(registry, ctx, "env")
    assert result.ok and "PATH=" in result.content
    assert secrets_found_in(result.content) == [] and not any(name in result.content for name in SECRETS)


async def test_a_secret_a_command_prints_is_redacted(registry: ToolRegistry, ctx: ToolContext) -> None:
    ctx.settings.shell.pass_env = ["GITHUB_TOKEN"]
    result = await run_command(registry, ctx, 'echo "token=$GITHUB_TOKEN"')
    assert result.content == "[exit code 0]\ntoken=[redacted]\n"


async def test_configured_names_are_redacted_too(
    registry: ToolRegistry, ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://app:hunter2hunter2@db/app")
    ctx.settings.shell.pass_env = ["DATABASE_URL"]
    plain = await run_command(registry, ctx, 'echo "$DATABASE_URL"')
    assert plain.content == "[exit code 0]\npostgres://app:hunter2hunter2@db/app\n"
    ctx.settings.security.redact_env = ["DATABASE_URL"]
    redacted = await run_command(registry, ctx, 'echo "$DATABASE_URL"')
    assert redacted.content == "[exit code 0]\n[redacted]\n"


async def test_every_tool_result_is_redacted(ctx: ToolContext, workspace: WorkspacePaths) -> None:
    (workspace.root / "leak.txt").write_text(f"key: {SECRETS['OPENAI_API_KEY']}\n")
    result = await ToolRegistry(file_tools()).execute("read_file", {"path": "leak.txt"}, ctx)
    assert "key: [redacted]" in result.content
    assert secrets_found_in(result.content) == []


def _scripted_attack(llm_env: ScriptedLLM) -> None:
    llm_env.add(
        Reply(tool_calls=[ScriptedToolCall("run_command", {"command": PARENT_ENVIRON})]),
        Reply(tool_calls=[ScriptedToolCall("run_command", {"command": OBOTO_ENVIRON})]),
        Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "env"})]),
        Reply(text="I looked around."),
    )


def _tool_results_sent(llm_env: ScriptedLLM) -> list[str]:
    return [message["content"] for message in llm_env.requests[-1]["messages"] if message["role"] == "tool"]


def _assert_no_secret_anywhere(workspace: WorkspacePaths, llm_env: ScriptedLLM, result) -> None:
    assert secrets_found_in(result.stdout + result.stderr) == []
    leaking = {str(path): secrets_found_in(path.read_text("utf-8", "replace"))
               for path in files_under(workspace.state_dir)}
    assert {path: names for path, names in leaking.items() if names} == {}
    assert secrets_found_in(orjson.dumps(llm_env.requests).decode()) == []


def test_oboto_run_leaks_no_secret_to_output_files_or_model(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    _scripted_attack(llm_env)
    result = oboto(workspace.root, "run", "look at the environment", env={**SECRETS, **FULL_MODE})
    assert result.returncode == 0, result.stderr
    parent, own, env = _tool_results_sent(llm_env)
    assert "Permission denied" in parent and "Permission denied" in own
    assert "PATH=" in env
    _assert_no_secret_anywhere(workspace, llm_env, result)


def test_oboto_run_with_the_sandbox_off_still_leaks_no_secret(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    _scripted_attack(llm_env)
    unsandboxed = {**SECRETS, **FULL_MODE, "OBOTO_SHELL__SANDBOX": "off"}
    result = oboto(workspace.root, "run", "look at the environment", env=unsandboxed)
    assert result.returncode == 0, result.stderr
    own = _tool_results_sent(llm_env)[1]
    # Unsandboxed, root may read oboto's environ; then redaction is what keeps the secrets out.
    assert "Permission denied" in own or "OPENAI_API_KEY=[redacted]" in own
    _assert_no_secret_anywhere(workspace, llm_env, result)
